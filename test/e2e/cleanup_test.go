package e2e

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stockade/stockade/copysnap"
	"github.com/stockade/stockade/linux/overlay"
	"github.com/stockade/stockade/snapshot/snapshottest"
	"github.com/stockade/stockade/snapshot/storage"
)

// TestCleanupLeftovers leaves under each directory snapshotter's root what
// crashes leave (see snapshottest.Crashed, and the active snapshot of an
// extraction that never committed) and checks that
// `system check --dry-run` leaves them, `system check` removes them, and
// so does `system prune`, while the snapshots and a Prepare still running
// in another process stay.
func TestCleanupLeftovers(t *testing.T) {
	for _, name := range []string{"overlay", "copy"} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			root := filepath.Join(e.root, "snapshots", name)
			var base *storage.Base
			switch name {
			case "overlay":
				o, err := overlay.New(root)
				if err != nil {
					t.Fatal(err)
				}
				base = o.Base
			case "copy":
				c, err := copysnap.New(root)
				if err != nil {
					t.Fatal(err)
				}
				base = c.Base
			}
			ctx := context.Background()
			if _, err := base.Prepare(ctx, "keep-a", ""); err != nil {
				t.Fatal(err)
			}
			if err := base.Commit(ctx, "keep", "keep-a"); err != nil {
				t.Fatal(err)
			}
			keep, err := base.Store().GetSnapshot(ctx, "keep")
			if err != nil {
				t.Fatal(err)
			}
			crash := func() {
				t.Helper()
				if _, err := base.Prepare(ctx, "extract-crashed-sha256:1", "keep"); err != nil {
					t.Fatal(err)
				}
				snapshottest.Crashed(t, base)
			}
			want := []string{filepath.Base(base.Dirs().Path(keep.ID)), snapshottest.Preparing(t, base)}

			crash()
			before := snapshottest.DirNames(t, base)
			e.must("--snapshotter", name, "system", "check", "--dry-run")
			if got := snapshottest.DirNames(t, base); !slices.Equal(got, before) {
				t.Errorf("system check --dry-run changed %s: %q, was %q", base.Dirs().Root(), got, before)
			}
			for _, cmd := range [][]string{{"system", "check"}, {"system", "prune", "-f"}} {
				e.must(append([]string{"--snapshotter", name}, cmd...)...)
				if got := snapshottest.DirNames(t, base); !slices.Equal(got, want) {
					t.Errorf("after %v %s holds %q, want %q (keep's directory and the live stage)", cmd, base.Dirs().Root(), got, want)
				}
				if _, err := base.Stat(ctx, "extract-crashed-sha256:1"); err == nil {
					t.Errorf("%v left the extraction snapshot of an interrupted pull", cmd)
				}
				if _, err := base.Stat(ctx, "keep"); err != nil {
					t.Errorf("%v removed a snapshot: %v", cmd, err)
				}
				crash()
			}
		})
	}
}
