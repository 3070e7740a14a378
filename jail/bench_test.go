package jail

import (
	"context"
	"testing"

	"github.com/stockade/stockade/ociruntime"
)

// BenchmarkLifecycle measures the runtime's own work for one container
// (create, start, state, delete) over the recording kernel: the spec
// mapping, the mount plan, the journal and state writes, the locks and
// the fifo. On FreeBSD the system calls and the helper's exec add to it.
func BenchmarkLifecycle(b *testing.B) {
	bundle, _, _ := testBundle(b, nil)
	ctx := context.Background()
	r := New(b.TempDir(), newFake(), nil)
	r.KillWait = 0
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Create(ctx, "c1", ociruntime.CreateOpts{Bundle: bundle}); err != nil {
			b.Fatal(err)
		}
		if err := r.Start(ctx, "c1"); err != nil {
			b.Fatal(err)
		}
		if _, err := r.State(ctx, "c1"); err != nil {
			b.Fatal(err)
		}
		if err := r.Delete(ctx, "c1", true); err != nil {
			b.Fatal(err)
		}
	}
}
