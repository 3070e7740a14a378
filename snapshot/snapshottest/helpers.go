package snapshottest

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/stockade/stockade/internal/testenv"
	"github.com/stockade/stockade/mount"
	"github.com/stockade/stockade/snapshot"
)

var (
	rootsMu sync.Mutex
	roots   = map[testing.TB]string{}
)

// Root returns a directory private to t, created on the first call and the
// same for every later call with the same t. A newSnapshotter given to Run
// should put its snapshotter there, so that calling it twice with the same
// t reopens the same storage.
func Root(t testing.TB) string {
	t.Helper()
	rootsMu.Lock()
	defer rootsMu.Unlock()
	if r, ok := roots[t]; ok {
		return r
	}
	r := t.TempDir()
	roots[t] = r
	t.Cleanup(func() {
		rootsMu.Lock()
		delete(roots, t)
		rootsMu.Unlock()
	})
	return r
}

// opKind is what one op does to a layer.
type opKind int

const (
	opFile opKind = iota
	opDir
	opDelete
	opOpaque
	opLink
)

// op is one change written into an active snapshot's ApplyDir, the way a
// layer applier would.
type op struct {
	kind   opKind
	path   string
	data   string
	target string
}

func file(path, data string) op   { return op{kind: opFile, path: path, data: data} }
func dir(path string) op          { return op{kind: opDir, path: path} }
func del(path string) op          { return op{kind: opDelete, path: path} }
func opaque(path string) op       { return op{kind: opOpaque, path: path} }
func link(path, target string) op { return op{kind: opLink, path: path, target: target} }

// apply writes ops into the ApplyDir of the active snapshot key, with
// deletions in the snapshotter's whiteout format.
func apply(t testing.TB, s snapshot.Snapshotter, key string, ops ...op) {
	t.Helper()
	root, format, err := s.ApplyDir(t.Context(), key)
	if err != nil {
		t.Fatalf("ApplyDir(%q): %v", key, err)
	}
	for _, o := range ops {
		p := filepath.Join(root, filepath.FromSlash(o.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch o.kind {
		case opFile:
			err = os.WriteFile(p, []byte(o.data), 0o644)
		case opDir:
			err = os.MkdirAll(p, 0o755)
		case opLink:
			err = os.Link(filepath.Join(root, filepath.FromSlash(o.target)), p)
		case opDelete:
			if format == snapshot.WhiteoutOverlay {
				if err = os.RemoveAll(p); err == nil {
					err = overlayWhiteout(p)
				}
			} else {
				err = os.RemoveAll(p)
			}
		case opOpaque:
			if err = os.RemoveAll(p); err == nil {
				err = os.Mkdir(p, 0o755)
			}
			if err == nil && format == snapshot.WhiteoutOverlay {
				err = overlayOpaque(p)
			}
		}
		if err != nil {
			t.Fatalf("apply to %q: %v", key, err)
		}
	}
}

// baseViewActive makes the committed snapshot "base" holding ops, and on
// it the view "view" and the active snapshot "active": the snapshots of
// every kind that the error cases need.
func baseViewActive(t *testing.T, s snapshot.Snapshotter, ops ...op) {
	t.Helper()
	layer(t, s, "base", "", ops...)
	if _, err := s.View(t.Context(), "view", "base"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prepare(t.Context(), "active", "base"); err != nil {
		t.Fatal(err)
	}
}

// layer prepares key on parent, applies ops and commits it as name.
func layer(t testing.TB, s snapshot.Snapshotter, name, parent string, ops ...op) {
	t.Helper()
	ctx := t.Context()
	key := name + "-active"
	if _, err := s.Prepare(ctx, key, parent); err != nil {
		t.Fatalf("Prepare(%q, %q): %v", key, parent, err)
	}
	apply(t, s, key, ops...)
	if err := s.Commit(ctx, name, key); err != nil {
		t.Fatalf("Commit(%q, %q): %v", name, key, err)
	}
}

// needMount skips t unless this process can mount (fails it in CI).
func needMount(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t, "mounting")
}

// withMounts mounts mounts on a fresh directory, calls fn with it and
// unmounts it. It skips t where mounting is not supported yet.
func withMounts(t *testing.T, mounts []snapshot.Mount, fn func(root string)) {
	t.Helper()
	needMount(t)
	target := t.TempDir()
	if err := mount.All(mounts, target); err != nil {
		if errors.Is(err, mount.ErrNotSupported) {
			t.Skip(err)
		}
		t.Fatalf("mount %v: %v", mounts, err)
	}
	unmounted := false
	t.Cleanup(func() {
		if !unmounted {
			mount.UnmountAll(target)
		}
	})
	fn(target)
	unmounted = true
	if err := mount.UnmountAll(target); err != nil {
		t.Fatalf("unmount %s: %v", target, err)
	}
}

// withSnapshot mounts the active snapshot or view key.
func withSnapshot(t *testing.T, s snapshot.Snapshotter, key string, fn func(root string)) {
	t.Helper()
	m, err := s.Mounts(t.Context(), key)
	if err != nil {
		t.Fatalf("Mounts(%q): %v", key, err)
	}
	withMounts(t, m, fn)
}

// checkFiles checks that each path under root holds the given content; a
// content of "<dir>" wants a directory and "<absent>" no entry at all.
func checkFiles(t *testing.T, root string, want map[string]string) {
	t.Helper()
	for _, p := range slices.Sorted(maps.Keys(want)) {
		w := want[p]
		full := filepath.Join(root, filepath.FromSlash(p))
		switch w {
		case "<absent>":
			if _, err := os.Lstat(full); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: want no such file, got err=%v", p, err)
			}
		case "<dir>":
			fi, err := os.Lstat(full)
			if err != nil || !fi.IsDir() {
				t.Errorf("%s: want a directory, got %v, err=%v", p, fi, err)
			}
		default:
			got, err := os.ReadFile(full)
			if err != nil {
				t.Errorf("%s: %v", p, err)
			} else if string(got) != w {
				t.Errorf("%s = %q, want %q", p, got, w)
			}
		}
	}
}

// checkList checks the sorted names in directory p under root.
func checkList(t *testing.T, root, p string, want ...string) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(p)))
	if err != nil {
		t.Errorf("list /%s: %v", p, err)
		return
	}
	got := []string{}
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Errorf("list /%s = %q, want %q", p, got, want)
	}
}

// walkAll returns every snapshot by name.
func walkAll(t *testing.T, s snapshot.Snapshotter) map[string]snapshot.Info {
	t.Helper()
	all := map[string]snapshot.Info{}
	err := s.Walk(t.Context(), func(_ context.Context, i snapshot.Info) error {
		if _, dup := all[i.Name]; dup {
			t.Errorf("Walk reports %q twice", i.Name)
		}
		all[i.Name] = i
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return all
}

// wantErr checks that err wraps want.
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want one wrapping %q", what, err, want)
	}
}

// removeAll removes keys in order, failing t on error.
func removeAll(t *testing.T, s snapshot.Snapshotter, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if err := s.Remove(t.Context(), k); err != nil {
			t.Fatalf("Remove(%q): %v", k, err)
		}
	}
}

// CommitFiles prepares name+"-active" on parent, writes files (path →
// content) into its apply directory and commits it as name. It returns the
// apply directory and its whiteout format.
func CommitFiles(t testing.TB, s snapshot.Snapshotter, name, parent string, files map[string]string) (string, snapshot.WhiteoutFormat) {
	t.Helper()
	ctx := context.Background()
	key := name + "-active"
	if _, err := s.Prepare(ctx, key, parent); err != nil {
		t.Fatalf("Prepare(%q, %q): %v", key, parent, err)
	}
	dir, format, err := s.ApplyDir(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	for p, data := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Commit(ctx, name, key); err != nil {
		t.Fatalf("Commit(%q, %q): %v", name, key, err)
	}
	return dir, format
}
