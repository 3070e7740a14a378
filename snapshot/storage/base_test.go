package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stockade/stockade/snapshot"
)

// recorder is a Backend whose steps record what Base asked of them, and
// fail on request.
type recorder struct {
	base     *Base
	released []uint64
	filled   []string
	// failFill and failInstall make Fill or its install function fail
	// for this key.
	failFill, failInstall string
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	r := &recorder{}
	var err error
	r.base, err = NewBase(t.Context(), t.TempDir(), Backend{
		Name: "rec",
		Mounts: func(key string, s Snapshot) ([]snapshot.Mount, error) {
			if s.Kind == snapshot.KindCommitted {
				return nil, fmt.Errorf("snapshot %q: %w", key, snapshot.ErrNotActive)
			}
			return []snapshot.Mount{{Type: "bind", Source: r.base.FSDir(s.ID)}}, nil
		},
		Whiteouts: snapshot.WhiteoutOverlay,
		Fill: func(ctx context.Context, kind snapshot.Kind, key, parent, dir string) (func(Snapshot) error, error) {
			r.filled = append(r.filled, kind.String()+" "+key+" on "+parent)
			if err := os.WriteFile(filepath.Join(dir, "extra"), []byte(key), 0o600); err != nil {
				return nil, err
			}
			if key == r.failFill {
				return nil, errors.New("fill failed")
			}
			return func(Snapshot) error {
				if key == r.failInstall {
					return errors.New("install failed")
				}
				return nil
			}, nil
		},
		Release: func(id uint64) error {
			r.released = append(r.released, id)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestBaseHooks checks when Base calls a backend's steps: Fill for every
// new snapshot, Release before an active snapshot is committed or
// removed, and never for a view or a committed snapshot.
func TestBaseHooks(t *testing.T) {
	r := newRecorder(t)
	b := r.base
	ctx := t.Context()
	if _, err := b.Prepare(ctx, "base-active", ""); err != nil {
		t.Fatal(err)
	}
	bs, err := b.Store().GetSnapshot(ctx, "base-active")
	if err != nil {
		t.Fatal(err)
	}
	dir, format, err := b.ApplyDir(ctx, "base-active")
	if err != nil || dir != b.FSDir(bs.ID) || format != snapshot.WhiteoutOverlay {
		t.Fatalf("ApplyDir = %s, %v, %v; want %s, overlay whiteouts", dir, format, err, b.FSDir(bs.ID))
	}
	if err := b.Commit(ctx, "base", "base-active"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.View(ctx, "view", "base"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Prepare(ctx, "ctr", "base"); err != nil {
		t.Fatal(err)
	}
	cs, err := b.Store().GetSnapshot(ctx, "ctr")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(b.Dirs().Path(cs.ID), "extra")); err != nil || string(got) != "ctr" {
		t.Errorf("what Fill wrote beside fs: %q, %v", got, err)
	}
	for _, k := range []string{"view", "ctr", "base"} {
		if err := b.Remove(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	wantFilled := []string{"active base-active on ", "view view on base", "active ctr on base"}
	if !slices.Equal(r.filled, wantFilled) {
		t.Errorf("Fill calls %q, want %q", r.filled, wantFilled)
	}
	if want := []uint64{bs.ID, cs.ID}; !slices.Equal(r.released, want) {
		t.Errorf("Release calls %v, want %v (the commit of base-active, the removal of ctr)", r.released, want)
	}
}

// TestBaseFailedCreate checks that a Fill or install step that fails
// leaves neither a record nor a directory.
func TestBaseFailedCreate(t *testing.T) {
	for _, step := range []string{"fill", "install"} {
		t.Run(step, func(t *testing.T) {
			r := newRecorder(t)
			r.failFill, r.failInstall = "bad-fill", "bad-install"
			b := r.base
			ctx := t.Context()
			if _, err := b.Prepare(ctx, "bad-"+step, ""); err == nil {
				t.Fatal("Prepare succeeded")
			}
			if _, err := b.Stat(ctx, "bad-"+step); !errors.Is(err, snapshot.ErrNotFound) {
				t.Errorf("after a failed %s, Stat: %v; want ErrNotFound", step, err)
			}
			if ents, err := os.ReadDir(b.Dirs().Root()); err != nil || len(ents) != 0 {
				t.Errorf("after a failed %s, %s holds %v (%v)", step, b.Dirs().Root(), ents, err)
			}
		})
	}
}

func TestNewBaseErrors(t *testing.T) {
	mounts := func(string, Snapshot) ([]snapshot.Mount, error) { return nil, nil }
	if _, err := NewBase(t.Context(), "", Backend{Name: "x", Mounts: mounts}); err == nil {
		t.Error("NewBase with an empty root succeeded")
	}
	if _, err := NewBase(t.Context(), t.TempDir(), Backend{Name: "x"}); err == nil {
		t.Error("NewBase without Mounts succeeded")
	}
	bad := errors.New("no whiteouts here")
	root := filepath.Join(t.TempDir(), "root")
	_, err := NewBase(t.Context(), root, Backend{Name: "x", Mounts: mounts, Check: func(string) error { return bad }})
	if !errors.Is(err, bad) {
		t.Errorf("NewBase with a failing Check: %v, want it wrapped", err)
	}
	if _, err := os.Stat(filepath.Join(root, FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("NewBase with a failing Check made a store: %v", err)
	}
}

// TestNewBaseRoot checks that a relative root is made absolute and
// created, and that ResolveLinks resolves a symbolic link in it.
func TestNewBaseRoot(t *testing.T) {
	mounts := func(string, Snapshot) ([]snapshot.Mount, error) { return nil, nil }
	dir := t.TempDir()
	t.Chdir(dir)
	b, err := NewBase(t.Context(), "rel/root", Backend{Name: "x", Mounts: mounts})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "rel/root"); b.Root() != want {
		t.Errorf("Root() = %s, want %s", b.Root(), want)
	}
	if err := os.Symlink(filepath.Join(dir, "rel"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	for _, resolve := range []bool{false, true} {
		b, err := NewBase(t.Context(), filepath.Join(dir, "link/root"), Backend{Name: "x", Mounts: mounts, ResolveLinks: resolve})
		if err != nil {
			t.Fatal(err)
		}
		want := filepath.Join(dir, "link/root")
		if resolve {
			want = filepath.Join(dir, "rel/root")
		}
		if b.Root() != want {
			t.Errorf("ResolveLinks %v: Root() = %s, want %s", resolve, b.Root(), want)
		}
	}
}
