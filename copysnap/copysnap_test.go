package copysnap

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stockade/stockade/snapshot"
	"github.com/stockade/stockade/snapshot/snapshottest"
)

func newTestCopy(t testing.TB) *Copy {
	t.Helper()
	c, err := New(snapshottest.Root(t))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConformance(t *testing.T) {
	t.Run("copy", func(t *testing.T) {
		snapshottest.Run(t, func(t *testing.T) snapshot.Snapshotter { return newTestCopy(t) })
	})
}

// BenchmarkPrepare runs the shared Prepare benchmark. Prepare copies the
// whole chain, so its time grows with the parent's size.
func BenchmarkPrepare(b *testing.B) {
	snapshottest.BenchmarkPrepare(b, func(b *testing.B) snapshot.Snapshotter { return newTestCopy(b) })
}

// commitLayer prepares name-active on parent, writes files into it and
// commits it as name. It returns the layer's directory.
func commitLayer(t testing.TB, c *Copy, name, parent string, files map[string]string) string {
	t.Helper()
	dir, format := snapshottest.CommitFiles(t, c, name, parent, files)
	if format != snapshot.WhiteoutDelete {
		t.Fatalf("ApplyDir format %v", format)
	}
	return dir
}

func TestMounts(t *testing.T) {
	c := newTestCopy(t)
	ctx := t.Context()
	d1 := commitLayer(t, c, "l1", "", map[string]string{"a": "1"})
	d2 := commitLayer(t, c, "l2", "l1", map[string]string{"b": "2"})
	tests := []struct {
		key, parent string
		view        bool
		wantSource  string // "<own>" for the snapshot's own directory
		wantOpt     string
	}{
		{"a0", "", false, "<own>", "rw"},
		{"a2", "l2", false, "<own>", "rw"},
		{"v0", "", true, "<own>", "ro"},
		{"v1", "l1", true, d1, "ro"},
		{"v2", "l2", true, d2, "ro"},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			var m []snapshot.Mount
			var err error
			if tc.view {
				m, err = c.View(ctx, tc.key, tc.parent)
			} else {
				m, err = c.Prepare(ctx, tc.key, tc.parent)
			}
			if err != nil {
				t.Fatal(err)
			}
			s, _ := c.Store().GetSnapshot(ctx, tc.key)
			want := tc.wantSource
			if want == "<own>" {
				want = c.FSDir(s.ID)
			}
			if len(m) != 1 || m[0].Type != bindType || m[0].Source != want || len(m[0].Options) != 1 || m[0].Options[0] != tc.wantOpt {
				t.Errorf("mounts %v, want %s %s (%s)", m, bindType, want, tc.wantOpt)
			}
			again, err := c.Mounts(ctx, tc.key)
			if err != nil || len(again) != 1 || again[0].Source != m[0].Source {
				t.Errorf("Mounts = %v, %v", again, err)
			}
		})
	}
	// An active snapshot is a full copy: its parent's files are its own.
	dir, _, _ := c.ApplyDir(ctx, "a2")
	for f, want := range map[string]string{"a": "1", "b": "2"} {
		if got, err := os.ReadFile(filepath.Join(dir, f)); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v", f, got, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "a"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(d1, "a")); string(got) != "1" {
		t.Errorf("writing the copy changed the parent: %q", got)
	}
	u, err := c.Usage(ctx, "a2")
	if err != nil {
		t.Fatal(err)
	}
	if u.Size > 64<<10 || u.Inodes != 0 {
		t.Errorf("Usage(a2) = %+v: the copy of the parent must not count", u)
	}
	for _, k := range []string{"a0", "a2", "v0", "v1", "v2", "l2", "l1"} {
		if err := c.Remove(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPrepareRefusesEarly checks that the errors the store would give are
// given before copying, and that a failed copy leaves nothing.
func TestPrepareRefusesEarly(t *testing.T) {
	c := newTestCopy(t)
	ctx := t.Context()
	commitLayer(t, c, "l1", "", map[string]string{"a": "1"})
	if _, err := c.Prepare(ctx, "l1", ""); !errors.Is(err, snapshot.ErrExists) {
		t.Errorf("Prepare of an existing key: %v", err)
	}
	if _, err := c.Prepare(ctx, "x", "missing"); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("Prepare on a missing parent: %v", err)
	}
	// An unreadable parent tree fails the copy.
	s, _ := c.Store().GetSnapshot(ctx, "l1")
	bad := filepath.Join(c.FSDir(s.ID), "bad")
	if err := os.Symlink("x", bad); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(c.FSDir(s.ID), "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Prepare(ctx2, "y", "l1"); err == nil {
		t.Error("Prepare with a canceled context succeeded")
	}
	if _, err := c.Stat(ctx, "y"); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("a failed Prepare left a snapshot: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Join(c.Root(), "snapshots"))
	if len(ents) != 1 {
		t.Errorf("a failed Prepare left directories: %v", ents)
	}
	if err := c.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctx, "l1"); err != nil {
		t.Fatal(err)
	}
}
