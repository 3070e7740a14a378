package copysnap

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stockade/stockade/snapshot/storage"
)

// BenchmarkPrepare measures Prepare of a container root (an active
// snapshot) on top of a committed chain of three layers whose base holds
// 5 MB or 200 MB, the shape of linux.BenchmarkOverlayPrepare. Prepare
// copies the whole chain, so its time grows with the size.
func BenchmarkPrepare(b *testing.B) {
	for _, size := range []int{5, 200} {
		b.Run(fmt.Sprintf("size=%dMB", size), func(b *testing.B) {
			c, err := New(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if _, err := c.Prepare(ctx, "base-active", ""); err != nil {
				b.Fatal(err)
			}
			dir, _, err := c.ApplyDir(ctx, "base-active")
			if err != nil {
				b.Fatal(err)
			}
			chunk := make([]byte, 1<<20)
			for i := range chunk {
				chunk[i] = byte(i * 7)
			}
			for i := 0; i < size; i++ {
				p := filepath.Join(dir, fmt.Sprintf("d%02d", i%16), fmt.Sprintf("f%03d", i))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					b.Fatal(err)
				}
				if err := os.WriteFile(p, chunk, 0o644); err != nil {
					b.Fatal(err)
				}
			}
			if err := c.Commit(ctx, "base", "base-active"); err != nil {
				b.Fatal(err)
			}
			commitLayer(b, c, "mid", "base", map[string]string{"etc/mid": "mid"})
			commitLayer(b, c, "top", "mid", map[string]string{"etc/top": "top"})
			u, err := storage.DiskUsage(ctx, dir)
			if err != nil {
				b.Fatal(err)
			}
			syscall.Sync()
			var keys []string
			for b.Loop() {
				key := fmt.Sprintf("ctr-%d", len(keys))
				if _, err := c.Prepare(ctx, key, "top"); err != nil {
					b.Fatal(err)
				}
				keys = append(keys, key)
			}
			b.StopTimer()
			// After the loop: b.Loop's first call resets reported metrics.
			b.ReportMetric(float64(u.Size)/(1<<20), "parentMiB")
			for _, k := range append(keys, "top", "mid", "base") {
				if err := c.Remove(ctx, k); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
