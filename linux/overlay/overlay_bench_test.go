package overlay

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// BenchmarkOverlayPrepare measures Prepare of a container root (an active
// snapshot) on top of a committed chain of three layers whose base holds
// 5 MB or 200 MB. Prepare only records the snapshot and makes two empty
// directories, so its time must not depend on the parent's size.
func BenchmarkOverlayPrepare(b *testing.B) {
	for _, size := range []int{5, 200} {
		b.Run(fmt.Sprintf("parent=%dMB", size), func(b *testing.B) {
			o, err := New(b.TempDir())
			if err != nil {
				b.Skipf("overlay snapshotter unavailable: %v", err)
			}
			ctx := context.Background()
			buildChain(b, o, size)
			var keys []string
			for b.Loop() {
				key := fmt.Sprintf("ctr-%d", len(keys))
				if _, err := o.Prepare(ctx, key, "top"); err != nil {
					b.Fatal(err)
				}
				keys = append(keys, key)
			}
			b.StopTimer()
			for _, k := range keys {
				if err := o.Remove(ctx, k); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// buildChain commits base (sizeMB of 1 MiB files), mid and top.
func buildChain(b *testing.B, o *Snapshotter, sizeMB int) {
	b.Helper()
	ctx := context.Background()
	if _, err := o.Prepare(ctx, "base-active", ""); err != nil {
		b.Fatal(err)
	}
	dir, _, err := o.ApplyDir(ctx, "base-active")
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	for i := 0; i < sizeMB; i++ {
		p := filepath.Join(dir, fmt.Sprintf("d%02d", i%16), fmt.Sprintf("f%03d", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, chunk, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if err := o.Commit(ctx, "base", "base-active"); err != nil {
		b.Fatal(err)
	}
	commitLayer(b, o, "mid", "base", map[string]string{"etc/mid": "mid"})
	commitLayer(b, o, "top", "mid", map[string]string{"etc/top": "top"})
	u, err := o.Usage(ctx, "base")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(u.Size)/(1<<20), "parentMiB")
	// Write the parent out now so that its writeback does not slow the
	// store's fsyncs during the measurement.
	syscall.Sync()
}
