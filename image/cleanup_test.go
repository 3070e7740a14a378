package image

import (
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/stockade/stockade/copysnap"
	"github.com/stockade/stockade/internal/testenv"
	"github.com/stockade/stockade/linux/overlay"
	"github.com/stockade/stockade/metadata"
	"github.com/stockade/stockade/snapshot"
	"github.com/stockade/stockade/snapshot/snapshottest"
	"github.com/stockade/stockade/snapshot/storage"
)

// TestGCCleansSnapshotter leaves what crashes leave under a directory
// snapshotter's root (see snapshottest.Crashed, and an extraction that
// never committed) and checks that GC removes them all, but neither a
// snapshot nor the staged directory of a Prepare still running in another
// process.
func TestGCCleansSnapshotter(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(root string) (snapshot.Snapshotter, *storage.Base, error)
	}{
		{"copy", func(root string) (snapshot.Snapshotter, *storage.Base, error) {
			c, err := copysnap.New(root)
			if err != nil {
				return nil, nil, err
			}
			return c, c.Base, nil
		}},
		{"overlay", func(root string) (snapshot.Snapshotter, *storage.Base, error) {
			o, err := overlay.New(root)
			if err != nil {
				return nil, nil, err
			}
			return o, o.Base, nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			root := t.TempDir()
			sn, base, err := tc.open(filepath.Join(root, "snapshots"))
			if err != nil {
				if runtime.GOOS != "linux" {
					t.Skipf("%s snapshotter unavailable: %v", tc.name, err)
				}
				testenv.Unavailable(t, "%s snapshotter unavailable: %v", tc.name, err)
			}
			defer sn.Close()
			if _, ok := sn.(snapshot.Cleaner); !ok {
				t.Fatalf("%T is not a snapshot.Cleaner", sn)
			}
			db, err := metadata.Open(ctx, filepath.Join(root, metadata.FileName))
			if err != nil {
				t.Fatal(err)
			}
			s := &Service{DataRoot: root, DB: db, Snapshotter: sn, SnapshotterName: tc.name,
				Log: slog.New(slog.NewTextHandler(io.Discard, nil))}

			if _, err := sn.Prepare(ctx, "keep-a", ""); err != nil {
				t.Fatal(err)
			}
			if err := sn.Commit(ctx, "keep", "keep-a"); err != nil {
				t.Fatal(err)
			}
			keep, err := base.Store().GetSnapshot(ctx, "keep")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sn.Prepare(ctx, extractPrefix+"crashed-sha256:1", "keep"); err != nil {
				t.Fatal(err)
			}
			snapshottest.Crashed(t, base)
			want := []string{filepath.Base(base.Dirs().Path(keep.ID)), snapshottest.Preparing(t, base)}

			if err := s.GC(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := sn.Stat(ctx, extractPrefix+"crashed-sha256:1"); err == nil {
				t.Error("GC left the extraction snapshot of an interrupted pull")
			}
			if _, err := sn.Stat(ctx, "keep"); err != nil {
				t.Errorf("GC removed a snapshot: %v", err)
			}
			if got := snapshottest.DirNames(t, base); !slices.Equal(got, want) {
				t.Errorf("after GC %s holds %q, want %q (keep's directory and the live stage)", base.Dirs().Root(), got, want)
			}
		})
	}
}
