package overlay

import (
	"testing"

	"github.com/stockade/stockade/internal/testenv"
	"github.com/stockade/stockade/snapshot"
	"github.com/stockade/stockade/snapshot/snapshottest"
)

// newTestOverlay opens an overlay snapshotter at snapshottest.Root(t),
// skipping t where overlayfs cannot be used.
func newTestOverlay(t testing.TB) *Snapshotter {
	t.Helper()
	o, err := New(snapshottest.Root(t))
	if err != nil {
		testenv.Unavailable(t, "overlay snapshotter unavailable: %v", err)
	}
	return o
}

func TestConformance(t *testing.T) {
	t.Run("overlay", func(t *testing.T) {
		snapshottest.Run(t, func(t *testing.T) snapshot.Snapshotter { return newTestOverlay(t) })
	})
}

// BenchmarkPrepare runs the shared Prepare benchmark. Prepare only records
// the snapshot and makes two empty directories, so its time must not
// depend on the parent's size.
func BenchmarkPrepare(b *testing.B) {
	snapshottest.BenchmarkPrepare(b, func(b *testing.B) snapshot.Snapshotter { return newTestOverlay(b) })
}
