// Package snapshottest is the conformance suite that every
// snapshot.Snapshotter implementation runs from its own tests:
//
//	func TestConformance(t *testing.T) {
//		t.Run("overlay", func(t *testing.T) {
//			snapshottest.Run(t, func(t *testing.T) snapshot.Snapshotter {
//				s, err := overlay.New(snapshottest.Root(t))
//				if err != nil {
//					t.Fatal(err)
//				}
//				return s
//			})
//		})
//	}
//
// Content is checked through the snapshotters' mounts, mounted with
// mount.All; the subtests that mount are skipped when the process is not
// root or where package mount does not support the system yet.
package snapshottest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/stockade/stockade/snapshot"
)

// Run runs the conformance suite against the snapshotters made by
// newSnapshotter. Each subtest calls newSnapshotter with its own t and
// expects an empty snapshotter; a subtest that checks recovery after a
// crash calls it a second time with the same t and expects a snapshotter
// on the same storage (use Root(t) as its root). Run closes every
// snapshotter it gets.
func Run(t *testing.T, newSnapshotter func(t *testing.T) snapshot.Snapshotter) {
	open := func(t *testing.T) snapshot.Snapshotter {
		t.Helper()
		s := &closeOnce{Snapshotter: newSnapshotter(t)}
		t.Cleanup(func() { s.Close() })
		return s
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, open func(*testing.T) snapshot.Snapshotter)
	}{
		{"LayerChain", testLayerChain},
		{"Whiteouts", testWhiteouts},
		{"Hardlinks", testHardlinks},
		{"ViewReadOnly", testViewReadOnly},
		{"Usage", testUsage},
		{"RemoveWithChildren", testRemoveWithChildren},
		{"StatWalk", testStatWalk},
		{"CommitErrors", testCommitErrors},
		{"DuplicateKeys", testDuplicateKeys},
		{"InvalidKeys", testInvalidKeys},
		{"KeysCheckedFirst", testKeysCheckedFirst},
		{"ParentErrors", testParentErrors},
		{"KindErrors", testKindErrors},
		{"CrashBeforeCommit", testCrashBeforeCommit},
		{"Concurrent", testConcurrent},
		{"PrepareMounts", testPrepareMounts},
	}
	// The capabilities the snapshotter has get their tests too.
	probe := newSnapshotter(t)
	if _, ok := probe.(snapshot.DeferredRemover); ok {
		tests = append(tests, struct {
			name string
			fn   func(t *testing.T, open func(*testing.T) snapshot.Snapshotter)
		}{"RemoveDeferred", testRemoveDeferred})
	}
	probe.Close()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// closeOnce passes Close on to the snapshotter the first time only.
type closeOnce struct {
	snapshot.Snapshotter
	once sync.Once
	err  error
}

func (c *closeOnce) Close() error {
	c.once.Do(func() { c.err = c.Snapshotter.Close() })
	return c.err
}

// testLayerChain builds three committed layers, runs a container on top,
// checks what every level shows, and removes it all.
func testLayerChain(t *testing.T, open func(*testing.T) snapshot.Snapshotter) {
	needMount(t)
	s := open(t)
	ctx := t.Context()
	layer(t, s, "base", "",
		file("etc/hostname", "base"), file("bin/sh", "sh-v1"), file("etc/keep", "keep"), dir("var/empty"))
	layer(t, s, "l2", "base",
		file("bin/sh", "sh-v2"), file("usr/lib/libc.so", "libc"))
	layer(t, s, "l3", "l2",
		file("etc/hostname", "l3"), file("app/main", "main"))

	if _, err := s.Prepare(ctx, "ctr", "l3"); err != nil {
		t.Fatalf("Prepare(ctr, l3): %v", err)
	}
	withSnapshot(t, s, "ctr", func(root string) {
		checkFiles(t, root, map[string]string{
			"etc/hostname":    "l3",
			"etc/keep":        "keep",
			"bin/sh":          "sh-v2",
			"usr/lib/libc.so": "libc",
			"app/main":        "main",
			"var/empty":       "<dir>",
		})
		checkList(t, root, "etc", "hostname", "keep")
		if err := os.WriteFile(filepath.Join(root, "etc/keep"), []byte("changed"), 0o644); err != nil {
			t.Fatalf("write through the container mount: %v", err)
		}
		if err := os.WriteFile(filepath.Join(root, "new"), []byte("new"), 0o644); err != nil {
			t.Fatalf("write through the container mount: %v", err)
		}
	})
	// The container's changes persist across mounts and stay in its layer.
	withSnapshot(t, s, "ctr", func(root string) {
		checkFiles(t, root, map[string]string{"etc/keep": "changed", "new": "new"})
	})
	for _, v := range []struct {
		key, parent string
		want        map[string]string
	}{
		{"v-base", "base", map[string]string{"etc/hostname": "base", "bin/sh": "sh-v1", "etc/keep": "keep",
			"usr": "<absent>", "new": "<absent>"}},
		{"v-l2", "l2", map[string]string{"etc/hostname": "base", "bin/sh": "sh-v2", "usr/lib/libc.so": "libc",
			"app": "<absent>", "etc/keep": "keep"}},
		{"v-l3", "l3", map[string]string{"etc/hostname": "l3", "app/main": "main", "etc/keep": "keep", "new": "<absent>"}},
	} {
		if _, err := s.View(ctx, v.key, v.parent); err != nil {
			t.Fatalf("View(%q, %q): %v", v.key, v.parent, err)
		}
		withSnapshot(t, s, v.key, func(root string) { checkFiles(t, root, v.want) })
	}
	removeAll(t, s, "ctr", "v-l3", "v-l2", "v-base", "l3", "l2", "base")
	if all := walkAll(t, s); len(all) != 0 {
		t.Errorf("after removing everything Walk reports %v", all)
	}
}

// testWhiteouts deletes files and makes a directory opaque in an upper
// layer, and checks that the stack hides what was below.
func testWhiteouts(t *testing.T, open func(*testing.T) snapshot.Snapshotter) {
	needMount(t)
	s := open(t)
	ctx := t.Context()
	layer(t, s, "base", "",
		file("a/f1", "1"), file("a/f2", "2"), file("d/x", "x"), file("d/sub/y", "y"), file("top", "top"), file("keep", "k"))
	layer(t, s, "l2", "base",
		del("a/f1"), opaque("d"), file("d/z", "z"), del("top"))
	layer(t, s, "l3", "l2", file("a/f3", "3"))

	want := func(root string) {
		checkList(t, root, "", "a", "d", "keep")
		checkList(t, root, "a", "f2", "f3")
		checkList(t, root, "d", "z")
		checkFiles(t, root, map[string]string{"a/f1": "<absent>", "d/x": "<absent>", "d/sub": "<absent>",
			"top": "<absent>", "d/z": "z", "keep": "k"})
	}
	if _, err := s.View(ctx, "view", "l3"); err != nil {
		t.Fatal(err)
	}
	withSnapshot(t, s, "view", want)
	if _, err := s.Prepare(ctx, "ctr", "l3"); err != nil {
		t.Fatal(err)
	}
	withSnapshot(t, s, "ctr", func(root string) {
		want(root)
		// Deleting through the mount hides the lower file too.
		if err := os.Remove(filepath.Join(root, "a/f2")); err != nil {
			t.Fatal(err)
		}
	})
	withSnapshot(t, s, "ctr", func(root string) { checkList(t, root, "a", "f3") })
	// The layers below are unchanged.
	if _, err := s.View(ctx, "view-base", "base"); err != nil {
		t.Fatal(err)
	}
	withSnapshot(t, s, "view-base", func(root string) {
		checkList(t, root, "a", "f1", "f2")
		checkList(t, root, "d", "sub", "x")
	})
	removeAll(t, s, "ctr", "view", "view-base", "l3", "l2", "base")
}

// testHardlinks checks hard links inside a layer, seen through upper
// layers, and links made through a mount to a file of a lower layer.
func testHardlinks(t *testing.T, open func(*testing.T) snapshot.Snapshotter) {
	needMount(t)
	s := open(t)
	ctx := t.Context()
	big := strings.Repeat("h", 256<<10)
	layer(t, s, "base", "", file("h/a", big), link("h/b", "h/a"), file("other", "o"))
	u, err := s.Usage(ctx, "base")
	if err != nil {
		t.Fatal(err)
	}
	if u.Size < int64(len(big)) || u.Size >= 2*int64(len(big)) {
		t.Errorf("Usage(base).Size = %d: a %d-byte file with two links must be counted once", u.Size, len(big))
	}
	layer(t, s, "l2", "base", file("other", "o2"))
	if _, err := s.Prepare(ctx, "ctr", "l2"); err != nil {
		t.Fatal(err)
	}
	withSnapshot(t, s, "ctr", func(root string) {
		a, b, c := filepath.Join(root, "h/a"), filepath.Join(root, "h/b"), filepath.Join(root, "h/c")
		sameFile(t, a, b, true)
		checkFiles(t, root, map[string]string{"h/a": big, "h/b": big, "other": "o2"})
		if err := os.Link(a, c); err != nil {
			t.Fatalf("link to a lower layer's file through the mount: %v", err)
		}
		sameFile(t, a, c, true)
		if err := os.WriteFile(c, []byte("changed"), 0o644); err != nil {
			t.Fatal(err)
		}
		checkFiles(t, root, map[string]string{"h/a": "changed", "h/c": "changed"})
	})
	if err := s.Commit(ctx, "l3", "ctr"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.View(ctx, "view", "l3"); err != nil {
		t.Fatal(err)
	}
	withSnapshot(t, s, "view", func(root string) {
		checkFiles(t, root, map[string]string{"h/a": "changed", "h/c": "changed"})
		sameFile(t, filepath.Join(root, "h/a"), filepath.Join(root, "h/c"), true)
	})
	removeAll(t, s, "view", "l3", "l2", "base")
}

func sameFile(t *testing.T, p1, p2 string, want bool) {
	t.Helper()
	f1, err1 := os.Stat(p1)
	f2, err2 := os.Stat(p2)
	if err1 != nil || err2 != nil {
		t.Errorf("stat %s, %s: %v, %v", p1, p2, err1, err2)
		return
	}
	if got := os.SameFile(f1, f2); got != want {
		t.Errorf("SameFile(%s, %s) = %v, want %v", p1, p2, got, want)
	}
}

// testViewReadOnly checks that views of one and of several layers cannot
// be written.
func testViewReadOnly(t *testing.T, open func(*testing.T) snapshot.Snapshotter) {
	needMount(t)
	s := open(t)
	ctx := t.Context()
	layer(t, s, "base", "", file("f", "base"))
	layer(t, s, "l2", "base", file("g", "l2"))
	for _, tc := range []struct {
		name, parent string
		want         map[string]string
	}{
		{"one-layer", "base", map[string]string{"f": "base", "g": "<absent>"}},
		{"two-layers", "l2", map[string]string{"f": "base", "g": "l2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.View(ctx, tc.name, tc.parent); err != nil {
				t.Fatal(err)
			}
			withSnapshot(t, s, tc.name, func(root string) {
				checkFiles(t, root, tc.want)
				if err := os.WriteFile(filepath.Join(root, "f"), []byte("x"), 0o644); err == nil {
					t.Error("writing a file of a view succeeded")
				}
				if err := os.WriteFile(filepath.Join(root, "new"), []byte("x"), 0o644); err == nil {
					t.Error("creating a file in a view succeeded")
				}
			})
			info, err := s.Stat(ctx, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if info.Kind != snapshot.KindView || info.Parent != tc.parent {
				t.Errorf("Stat(%q) = %+v, want a view of %q", tc.name, info, tc.parent)
			}
			removeAll(t, s, tc.name)
		})
	}
	removeAll(t, s, "l2", "base")
}

// testUsage checks that Usage grows by about the bytes written and that
// Commit keeps it.
func testUsage(t *testing.T, open func(*testing.T) snapshot.Snapshotter) {
	s := open(t)
	ctx := t.Context()
	if _, err := s.Prepare(ctx, "u", ""); err != nil {
		t.Fatal(err)
	}
	u0, err := s.Usage(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	const n = 1 << 20
	data := make([]byte, n)
	rand.New(rand.NewSource(1)).Read(data) // incompressible
	d, _, err := s.ApplyDir(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	writeSynced(t, filepath.Join(d, "blob"), data)
	u1, err := s.Usage(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	grown := u1.Size - u0.Size
	if grown < n || grown > 2*n {
		t.Errorf("Usage grew by %d bytes after writing %d (before %+v, after %+v)", grown, n, u0, u1)
	}
	if u1.Inodes != u0.Inodes+1 {
		t.Errorf("Usage.Inodes went from %d to %d after creating one file", u0.Inodes, u1.Inodes)
	}
	if err := s.Commit(ctx, "c", "u"); err != nil {
		t.Fatal(err)
	}
	uc, err := s.Usage(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if diff := uc.Size - u1.Size; diff < -64<<10 || diff > 64<<10 || uc.Inodes != u1.Inodes {
		t.Errorf("Usage after Commit = %+v, before %+v", uc, u1)
	}
	// A child uses nothing of its parent's space.
	if _, err := s.Prepare(ctx, "child", "c"); err != nil {
		t.Fatal(err)
	}
	uch, err := s.Usage(ctx, "child")
	if err != nil {
		t.Fatal(err)
	}
	if uch.Size >= n/2 {
		t.Errorf("Usage(child) = %+v includes its parent's %d bytes", uch, n)
	}
	if _, err := s.Usage(ctx, "missing"); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("Usage(missing): %v, want ErrNotFound", err)
	}
	removeAll(t, s, "child", "c")
}

func writeSynced(t *testing.T, p string, data []byte) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// testRemoveWithChildren checks that a parent cannot be removed while an
// active snapshot, a view or a committed snapshot is on top of it.
func testRemoveWithChildren(t *testing.T, open func(*testing.T) snapshot.Snapshotter) {
	s := open(t)
	ctx := t.Context()
	layer(t, s, "p", "", file("f", "p"))
	layer(t, s, "c", "p", file("g", "c"))
	if _, err := s.Prepare(ctx, "active", "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.View(ctx, "view", "c"); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		remove  string
		wantErr error
	}{
		{"p", snapshot.ErrHasChildren},
		{"c", snapshot.ErrHasChildren},
		{"active", nil},
		{"c", snapshot.ErrHasChildren}, // the view is left
		{"view", nil},
		{"p", snapshot.ErrHasChildren},
		{"c", nil},
		{"p", nil},
		{"p", snapshot.ErrNotFound},
	}
	for i, st := range steps {
		err := s.Remove(ctx, st.remove)
		if st.wantErr == nil && err != nil {
			t.Fatalf("step %d: Remove(%q): %v", i, st.remove, err)
		}
		if st.wantErr != nil {
			wantErr(t, fmt.Sprintf("step %d: Remove(%q)", i, st.remove), err, st.wantErr)
			if err != nil && !strings.Contains(err.Error(), st.remove) {
				t.Errorf("step %d: error %q does not name %q", i, err, st.remove)
			}
		}
	}
}

// testRemoveDeferred: RemoveDeferred takes the snapshot away at once
// (Stat, Walk, a new snapshot of the same key, a parent that can go) and
// leaves its files to finish; files whose finish never ran are trash that
// Cleanup deletes.
func testRemoveDeferred(t *testing.T, open func(*testing.T) snapshot.Snapshotter) {
	s := open(t)
	dr := s.(*closeOnce).Snapshotter.(snapshot.DeferredRemover)
	ctx := t.Context()
	layer(t, s, "p", "", file("f", "p"))
	// The bytes of the files under the root, but the metadata store's:
	// the removed snapshot's 64 KiB file shows where it is.
	const big = 1 << 16
	stored := func() int64 {
		var n int64
		err := filepath.WalkDir(Root(t), func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() || strings.HasSuffix(p, ".db") {
				return err
			}
			info, err := d.Info()
			if err == nil {
				n += info.Size()
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, finish := range []bool{true, false} {
		if _, err := s.Prepare(ctx, "active", "p"); err != nil {
			t.Fatal(err)
		}
		apply(t, s, "active", file("big", strings.Repeat("x", big)))
		before := walkAll(t, s)
		done, err := dr.RemoveDeferred(ctx, "active")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stat(ctx, "active"); !errors.Is(err, snapshot.ErrNotFound) {
			t.Errorf("Stat after RemoveDeferred: %v, want ErrNotFound", err)
		}
		if after := walkAll(t, s); len(after) != len(before)-1 {
			t.Errorf("Walk after RemoveDeferred: %d snapshots, want %d", len(after), len(before)-1)
		}
		if _, err := dr.RemoveDeferred(ctx, "active"); !errors.Is(err, snapshot.ErrNotFound) {
			t.Errorf("second RemoveDeferred: %v, want ErrNotFound", err)
		}
		if !finish {
			continue
		}
		pending := stored()
		if err := done(); err != nil {
			t.Fatal(err)
		}
		if freed := pending - stored(); freed < big {
			t.Errorf("finish freed %d bytes, want the removed snapshot's %d", freed, big)
		}
	}
	// The second removal's files were never deleted: trash for Cleanup.
	c, ok := s.(*closeOnce).Snapshotter.(snapshot.Cleaner)
	if !ok {
		return
	}
	trash := stored()
	if err := c.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if freed := trash - stored(); freed < big {
		t.Errorf("Cleanup freed %d bytes, want the unfinished removal's %d", freed, big)
	}
	if err := s.Remove(ctx, "p"); err != nil {
		t.Errorf("the parent after its child's RemoveDeferred: %v", err)
	}
}

// testStatWalk checks kinds, parents and labels as Stat and Walk report
// them.
func testStatWalk(t *testing.T, open func(*testing.T) snapshot.Snapshotter) {
	s := open(t)
	ctx := t.Context()
	if _, err := s.Prepare(ctx, "base-active", "", snapshot.WithLabels(map[string]string{"a": "1"})); err != nil {
		t.Fatal(err)
	}
	info, err := s.Stat(ctx, "base-active")
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "base-active" || info.Kind != snapshot.KindActive || info.Parent != "" || info.Labels["a"] != "1" || info.Created.IsZero() {
		t.Errorf("Stat(base-active) = %+v", info)
	}
	if err := s.Commit(ctx, "base", "base-active", snapshot.WithLabels(map[string]string{"b": "2"})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "base-active"); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("Stat of a committed active key: %v, want ErrNotFound", err)
	}
	if _, err := s.Prepare(ctx, "active", "base"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.View(ctx, "view", "base", snapshot.WithLabels(map[string]string{"v": "x"})); err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		kind   snapshot.Kind
		parent string
		labels map[string]string
	}{
		"base":   {snapshot.KindCommitted, "", map[string]string{"b": "2"}},
		"active": {snapshot.KindActive, "base", nil},
		"view":   {snapshot.KindView, "base", map[string]string{"v": "x"}},
	}
	all := walkAll(t, s)
	if len(all) != len(want) {
		t.Errorf("Walk reports %d snapshots, want %d: %v", len(all), len(want), all)
	}
	for name, w := range want {
		for _, src := range []string{"Walk", "Stat"} {
			got, ok := all[name]
			if src == "Stat" {
				got, err = s.Stat(ctx, name)
				ok = err == nil
			}
			if !ok {
				t.Errorf("%s: %q missing (%v)", src, name, err)
				continue
			}
			if got.Name != name || got.Kind != w.kind || got.Parent != w.parent {
				t.Errorf("%s(%q) = %+v, want kind %s, parent %q", src, name, got, w.kind, w.parent)
			}
			for k, v := range w.labels {
				if got.Labels[k] != v {
					t.Errorf("%s(%q).Labels = %v, want %s=%s", src, name, got.Labels, k, v)
				}
			}
			if got.Created.IsZero() || got.Updated.Before(got.Created) {
				t.Errorf("%s(%q): Created %v, Updated %v", src, name, got.Created, got.Updated)
			}
		}
	}
	if _, err := s.Stat(ctx, "missing"); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("Stat(missing): %v, want ErrNotFound", err)
	}
	stop := errors.New("stop")
	calls := 0
	err = s.Walk(ctx, func(context.Context, snapshot.Info) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Walk with a failing fn: err %v after %d calls, want %v after 1", err, calls, stop)
	}
	removeAll(t, s, "active", "view", "base")
}

// testCommitErrors checks that only active snapshots can be committed, and
// only under a free name.
func testCommitErrors(t *testing.T, open func(*testing.T) snapshot.Snapshotter) {
	s := open(t)
	ctx := t.Context()
	baseViewActive(t, s, file("f", "f"))
	for _, tc := range []struct {
		name, key string
		want      error
	}{
		{"again", "base", snapshot.ErrNotActive},
		{"from-view", "view", snapshot.ErrNotActive},
		{"from-missing", "missing", snapshot.ErrNotFound},
		{"base", "active", snapshot.ErrExists},
		{"view", "active", snapshot.ErrExists},
	} {
		err := s.Commit(ctx, tc.name, tc.key)
		wantErr(t, fmt.Sprintf("Commit(%q, %q)", tc.name, tc.key), err, tc.want)
	}
	// The failed commits changed nothing.
	for key, kind := range map[string]snapshot.Kind{"base": snapshot.KindCommitted, "view": snapshot.KindView, "active": snapshot.KindActive} {
		if info, err := s.Stat(ctx, key); err != nil || info.Kind != kind {
			t.Errorf("Stat(%q) = %+v, %v; want kind %s", key, info, err, kind)
		}
	}
	if len(walkAll(t, s)) != 3 {
		t.Errorf("failed commits left snapshots behind: %v", walkAll(t, s))
	}
	removeAll(t, s, "view", "active", "base")
}

// testDuplicateKeys checks that no key can be used twice.
func testDuplicateKeys(t *testing.T, open func(*testing.T) snapshot.Snapshotter) {
	s := open(t)
	ctx := t.Context()
	baseViewActive(t, s)
	for _, tc := range []struct {
		what string
		fn   func() error
	}{
		{"Prepare(active)", func() error { _, err := s.Prepare(ctx, "active", ""); return err }},
		{"Prepare(view)", func() error { _, err := s.Prepare(ctx, "view", "base"); return err }},
		{"Prepare(base)", func() error { _, err := s.Prepare(ctx, "base", ""); return err }},
		{"View(active)", func() error { _, err := s.View(ctx, "active", "base"); return err }},
		{"View(base)", func() error { _, err := s.View(ctx, "base", "base"); return err }},
	} {
		wantErr(t, tc.what, tc.fn(), snapshot.ErrExists)
	}
	if info, err := s.Stat(ctx, "active"); err != nil || info.Kind != snapshot.KindActive || info.Parent != "base" {
		t.Errorf("after failed duplicates, Stat(active) = %+v, %v", info, err)
	}
	if n := len(walkAll(t, s)); n != 3 {
		t.Errorf("Walk reports %d snapshots, want 3", n)
	}
	removeAll(t, s, "active", "view", "base")
}

// testInvalidKeys checks that keys that cannot be file names are refused.
func testInvalidKeys(t *testing.T, open func(*testing.T) snapshot.Snapshotter) {
	s := open(t)
	ctx := t.Context()
	layer(t, s, "base", "")
	if _, err := s.Prepare(ctx, "active", "base"); err != nil {
		t.Fatal(err)
	}
	bad := []string{"", ".", "..", ".hidden", "a/b", "../x", "a b", "tab\t", "nul\x00", "é", strings.Repeat("k", 256)}
	for _, key := range bad {
		for _, tc := range []struct {
			what string
			fn   func() error
		}{
			{"Prepare", func() error { _, err := s.Prepare(ctx, key, ""); return err }},
			{"Prepare on base", func() error { _, err := s.Prepare(ctx, key, "base"); return err }},
			{"View", func() error { _, err := s.View(ctx, key, "base"); return err }},
			{"Commit", func() error { return s.Commit(ctx, key, "active") }},
			{"Prepare with bad parent", func() error { _, err := s.Prepare(ctx, "ok", key); return err }},
		} {
			if key == "" && tc.what == "Prepare with bad parent" {
				continue // "" means no parent
			}
			wantErr(t, fmt.Sprintf("%s %q", tc.what, key), tc.fn(), snapshot.ErrInvalidKey)
		}
	}
	if n := len(walkAll(t, s)); n != 2 {
		t.Errorf("invalid keys left snapshots behind: %v", walkAll(t, s))
	}
	removeAll(t, s, "active", "base")
}

// testKeysCheckedFirst checks that Prepare and View check the key and the
// parent's key before anything else: a bad one is reported as
// ErrInvalidKey even when the context is already done, and nothing is
// recorded.
func testKeysCheckedFirst(t *testing.T, open func(*testing.T) snapshot.Snapshotter) {
	s := open(t)
	layer(t, s, "base", "")
	done, cancel := context.WithCancel(t.Context())
	cancel()
	for _, tc := range []struct {
		what string
		fn   func() error
	}{
		{"Prepare with bad key", func() error { _, err := s.Prepare(done, "a/b", "base"); return err }},
		{"Prepare with bad parent", func() error { _, err := s.Prepare(done, "ok", "../base"); return err }},
		{"View with bad key", func() error { _, err := s.View(done, "a b", "base"); return err }},
		{"View with bad parent", func() error { _, err := s.View(done, "ok", "base/x"); return err }},
	} {
		wantErr(t, tc.what+" and a cancelled context", tc.fn(), snapshot.ErrInvalidKey)
	}
	if all := walkAll(t, s); len(all) != 1 {
		t.Errorf("refused keys left snapshots behind: %v", all)
	}
	removeAll(t, s, "base")
}

// testParentErrors checks that parents must exist and be committed.
func testParentErrors(t *testing.T, open func(*testing.T) snapshot.Snapshotter) {
	s := open(t)
	ctx := t.Context()
	baseViewActive(t, s)
	for _, tc := range []struct {
		key, parent string
		view        bool
		want        error
	}{
		{"a1", "missing", false, snapshot.ErrNotFound},
		{"a2", "missing", true, snapshot.ErrNotFound},
		{"a3", "active", false, snapshot.ErrNotCommitted},
		{"a4", "view", false, snapshot.ErrNotCommitted},
		{"a5", "active", true, snapshot.ErrNotCommitted},
	} {
		var err error
		if tc.view {
			_, err = s.View(ctx, tc.key, tc.parent)
		} else {
			_, err = s.Prepare(ctx, tc.key, tc.parent)
		}
		wantErr(t, fmt.Sprintf("%q on %q (view %v)", tc.key, tc.parent, tc.view), err, tc.want)
		if _, err := s.Stat(ctx, tc.key); !errors.Is(err, snapshot.ErrNotFound) {
			t.Errorf("failed creation of %q left a snapshot: %v", tc.key, err)
		}
	}
	removeAll(t, s, "active", "view", "base")
}

// testKindErrors checks the calls that only some kinds accept.
func testKindErrors(t *testing.T, open func(*testing.T) snapshot.Snapshotter) {
	s := open(t)
	ctx := t.Context()
	baseViewActive(t, s)
	mounts := func(key string) func() error {
		return func() error { _, err := s.Mounts(ctx, key); return err }
	}
	applyDir := func(key string) func() error {
		return func() error { _, _, err := s.ApplyDir(ctx, key); return err }
	}
	for _, tc := range []struct {
		what string
		fn   func() error
		want error
	}{
		{"Mounts(base)", mounts("base"), snapshot.ErrNotActive},
		{"Mounts(missing)", mounts("missing"), snapshot.ErrNotFound},
		{"Mounts(view)", mounts("view"), nil},
		{"Mounts(active)", mounts("active"), nil},
		{"ApplyDir(base)", applyDir("base"), snapshot.ErrNotActive},
		{"ApplyDir(view)", applyDir("view"), snapshot.ErrNotActive},
		{"ApplyDir(missing)", applyDir("missing"), snapshot.ErrNotFound},
		{"ApplyDir(active)", applyDir("active"), nil},
		{"Remove(missing)", func() error { return s.Remove(ctx, "missing") }, snapshot.ErrNotFound},
	} {
		err := tc.fn()
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.what, err)
			}
			continue
		}
		wantErr(t, tc.what, err, tc.want)
	}
	removeAll(t, s, "view", "active", "base")
}

// testCrashBeforeCommit prepares a snapshot, writes into it and closes the
// snapshotter without committing, as a crashed unpacker would. The
// reopened snapshotter must list it as active, show its content and remove
// it.
func testCrashBeforeCommit(t *testing.T, open func(*testing.T) snapshot.Snapshotter) {
	s := open(t)
	ctx := t.Context()
	layer(t, s, "base", "", file("f", "base"))
	if _, err := s.Prepare(ctx, "unpacking", "base", snapshot.WithLabels(map[string]string{"stage": "unpack"})); err != nil {
		t.Fatal(err)
	}
	apply(t, s, "unpacking", file("half", "written"))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = open(t)
	all := walkAll(t, s)
	info, ok := all["unpacking"]
	if !ok || info.Kind != snapshot.KindActive || info.Parent != "base" || info.Labels["stage"] != "unpack" {
		t.Fatalf("after reopening, Walk reports %v; want the active snapshot \"unpacking\" on base", all)
	}
	if _, ok := all["base"]; !ok || len(all) != 2 {
		t.Errorf("after reopening, Walk reports %v; want base and unpacking", all)
	}
	if os.Geteuid() == 0 {
		withSnapshot(t, s, "unpacking", func(root string) {
			checkFiles(t, root, map[string]string{"f": "base", "half": "written"})
		})
	}
	removeAll(t, s, "unpacking", "base")
	if all := walkAll(t, s); len(all) != 0 {
		t.Errorf("after removing everything Walk reports %v", all)
	}
}

// testConcurrent prepares, commits and removes snapshots from several
// goroutines at once on a shared parent.
func testConcurrent(t *testing.T, open func(*testing.T) snapshot.Snapshotter) {
	s := open(t)
	ctx := t.Context()
	layer(t, s, "base", "", file("f", "base"))
	const n = 8
	parallel := func(fn func(i int, key string) error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = fn(i, fmt.Sprintf("ctr-%d", i))
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	}
	dirs := make([]string, n)
	parallel(func(i int, key string) error {
		if _, err := s.Prepare(ctx, key, "base"); err != nil {
			return err
		}
		d, _, err := s.ApplyDir(ctx, key)
		if err != nil {
			return err
		}
		dirs[i] = d
		return os.WriteFile(filepath.Join(d, "id"), []byte(key), 0o644)
	})
	seen := map[string]bool{}
	for i, d := range dirs {
		if seen[d] {
			t.Errorf("two snapshots share the directory %s", d)
		}
		seen[d] = true
		got, err := os.ReadFile(filepath.Join(d, "id"))
		if want := fmt.Sprintf("ctr-%d", i); err != nil || !bytes.Equal(got, []byte(want)) {
			t.Errorf("snapshot %s holds %q, %v", want, got, err)
		}
	}
	parallel(func(i int, key string) error { return s.Commit(ctx, key+"-c", key) })
	all := walkAll(t, s)
	if len(all) != n+1 {
		t.Errorf("Walk reports %d snapshots, want %d", len(all), n+1)
	}
	for i := 0; i < n; i++ {
		if info := all[fmt.Sprintf("ctr-%d-c", i)]; info.Kind != snapshot.KindCommitted || info.Parent != "base" {
			t.Errorf("ctr-%d-c: %+v", i, info)
		}
	}
	parallel(func(i int, key string) error { return s.Remove(ctx, key+"-c") })
	removeAll(t, s, "base")
}

// testPrepareMounts: the mounts Prepare and View return are the ones
// Mounts gives for the key later. The engine mounts a new container's
// root from Prepare's, and its monitor takes that mount over with them
// without asking again.
func testPrepareMounts(t *testing.T, open func(*testing.T) snapshot.Snapshotter) {
	s := open(t)
	ctx := t.Context()
	layer(t, s, "base", "", file("etc/hostname", "base"))
	for _, tc := range []struct {
		key, parent string
		view        bool
	}{
		{"ctr", "base", false},
		{"scratch", "", false},
		{"look", "base", true},
	} {
		prep := s.Prepare
		if tc.view {
			prep = s.View
		}
		got, err := prep(ctx, tc.key, tc.parent)
		if err != nil {
			t.Fatalf("%s: %v", tc.key, err)
		}
		want, err := s.Mounts(ctx, tc.key)
		if err != nil {
			t.Fatalf("Mounts(%s): %v", tc.key, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Prepare/View gave %+v, Mounts gives %+v", tc.key, got, want)
		}
	}
	removeAll(t, s, "look", "scratch", "ctr", "base")
}
