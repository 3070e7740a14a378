package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stockade/stockade/copysnap"
	"github.com/stockade/stockade/internal/flock"
	"github.com/stockade/stockade/linux/overlay"
	"github.com/stockade/stockade/snapshot/storage"
)

// TestCleanupLeftovers leaves under each directory snapshotter's root what
// crashes leave (the staged directory of a Prepare whose process died, a
// directory half deleted, one renamed into place without its record, the
// active snapshot of an extraction that never committed) and checks that
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
			dirs := base.Dirs().Root()
			keepDir := filepath.Base(base.Dirs().Path(keep.ID))
			// A Prepare in progress in another process: its maker holds
			// the lock on its staged directory.
			live := filepath.Join(dirs, "new-live")
			if err := os.Mkdir(live, 0o700); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(live)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if ok, err := flock.TryLock(f, flock.Exclusive); !ok || err != nil {
				t.Fatalf("lock %s: %v, %v", live, ok, err)
			}

			crash := func() {
				t.Helper()
				if _, err := base.Prepare(ctx, "extract-crashed-sha256:1", "keep"); err != nil {
					t.Fatal(err)
				}
				for _, l := range []string{"new-crashed", "rm-0123456789abcdef", "4242"} {
					p := filepath.Join(dirs, l, "fs", "etc")
					if err := os.MkdirAll(p, 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(p, "f"), []byte(l), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			entries := func() []string {
				t.Helper()
				ents, err := os.ReadDir(dirs)
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, e := range ents {
					names = append(names, e.Name())
				}
				return names
			}
			want := []string{keepDir, "new-live"}

			crash()
			before := entries()
			e.must("--snapshotter", name, "system", "check", "--dry-run")
			if got := entries(); !slices.Equal(got, before) {
				t.Errorf("system check --dry-run changed %s: %q, was %q", dirs, got, before)
			}
			for _, cmd := range [][]string{{"system", "check"}, {"system", "prune"}} {
				e.must(append([]string{"--snapshotter", name}, cmd...)...)
				if got := entries(); !slices.Equal(got, want) {
					t.Errorf("after %v %s holds %q, want %q (keep's directory and the live stage)", cmd, dirs, got, want)
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
