package snapshottest

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/stockade/stockade/snapshot"
)

// BenchmarkPrepare measures Prepare of a container root (an active
// snapshot) on a committed chain of three layers whose base holds 5 MB or
// 200 MB, for the snapshotters made by newSnapshotter (one per
// sub-benchmark, empty, as for Run). Every snapshotter runs it from its own
// tests:
//
//	func BenchmarkPrepare(b *testing.B) {
//		snapshottest.BenchmarkPrepare(b, func(b *testing.B) snapshot.Snapshotter { ... })
//	}
//
// Comparing the two sizes tells whether a container root costs in
// proportion to its image (copy) or not (overlay, zfs, unionfs). The
// parentMiB metric is the base layer's recorded usage.
func BenchmarkPrepare(b *testing.B, newSnapshotter func(b *testing.B) snapshot.Snapshotter) {
	for _, size := range []int{5, 200} {
		b.Run(fmt.Sprintf("parent=%dMB", size), func(b *testing.B) {
			s := newSnapshotter(b)
			defer s.Close()
			ctx := b.Context()
			ops := make([]op, size)
			// 1 MiB that no file system compresses.
			chunk := make([]byte, 1<<20)
			rand.NewChaCha8([32]byte{}).Read(chunk)
			for i := range ops {
				ops[i] = file(fmt.Sprintf("d%02d/f%03d", i%16, i), string(chunk))
			}
			layer(b, s, "base", "", ops...)
			layer(b, s, "mid", "base", file("etc/mid", "mid"))
			layer(b, s, "top", "mid", file("etc/top", "top"))
			u, err := s.Usage(ctx, "base")
			if err != nil {
				b.Fatal(err)
			}
			// Write the chain out now so that its writeback does not slow
			// the store's fsyncs during the measurement.
			syscall.Sync()
			var keys []string
			for b.Loop() {
				key := fmt.Sprintf("ctr-%d", len(keys))
				if _, err := s.Prepare(ctx, key, "top"); err != nil {
					b.Fatal(err)
				}
				keys = append(keys, key)
			}
			b.StopTimer()
			// After the loop: b.Loop's first call resets reported metrics.
			b.ReportMetric(float64(u.Size)/(1<<20), "parentMiB")
			for _, k := range append(keys, "top", "mid", "base") {
				if err := s.Remove(ctx, k); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
