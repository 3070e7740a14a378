package zfs

import (
	"context"
	"fmt"
	"syscall"
	"testing"
)

// BenchmarkPrepare measures Prepare of a container root (an active
// snapshot) on top of a committed chain of three layers whose base holds
// 5 MB or 200 MB, the shape of linux.BenchmarkOverlayPrepare. A container
// root is a clone of the top layer's snapshot, so the time must not depend
// on the size.
func BenchmarkPrepare(b *testing.B) {
	for _, size := range []int{5, 200} {
		b.Run(fmt.Sprintf("size=%dMB", size), func(b *testing.B) {
			z := newTestSnapshotter(b)
			ctx := context.Background()
			if _, err := z.Prepare(ctx, "base-active", ""); err != nil {
				b.Fatal(err)
			}
			dir, _, err := z.ApplyDir(ctx, "base-active")
			if err != nil {
				b.Fatal(err)
			}
			writeMB(b, dir, size)
			if err := z.Commit(ctx, "base", "base-active"); err != nil {
				b.Fatal(err)
			}
			commitLayer(b, z, "mid", "base", map[string]string{"etc/mid": "mid"})
			commitLayer(b, z, "top", "mid", map[string]string{"etc/top": "top"})
			u, err := z.Usage(ctx, "base")
			if err != nil {
				b.Fatal(err)
			}
			syscall.Sync()
			var keys []string
			for b.Loop() {
				key := fmt.Sprintf("ctr-%d", len(keys))
				if _, err := z.Prepare(ctx, key, "top"); err != nil {
					b.Fatal(err)
				}
				keys = append(keys, key)
			}
			b.StopTimer()
			// After the loop: b.Loop's first call resets reported metrics.
			b.ReportMetric(float64(u.Size)/(1<<20), "parentMiB")
			for _, k := range append(keys, "top", "mid", "base") {
				if err := z.Remove(ctx, k); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
