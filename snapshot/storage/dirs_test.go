package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stockade/stockade/snapshot"
)

func TestStageInstall(t *testing.T) {
	d, err := NewDirs(filepath.Join(t.TempDir(), "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := d.Stage()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(st.Path()), stagePrefix) {
		t.Errorf("staged dir %s", st.Path())
	}
	if err := os.WriteFile(filepath.Join(st.Path(), "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := st.Install(7); err != nil {
		t.Fatal(err)
	}
	if err := st.Install(8); err == nil {
		t.Error("second Install succeeded")
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(d.Path(7), "f")); err != nil || string(b) != "x" {
		t.Errorf("installed content %q, %v", b, err)
	}
	// A discarded stage leaves nothing.
	st2, err := d.Stage()
	if err != nil {
		t.Fatal(err)
	}
	p := st2.Path()
	st2.Close()
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("discarded stage %s still there: %v", p, err)
	}
	if err := d.Remove(7); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(7); err != nil {
		t.Errorf("Remove of a missing dir: %v", err)
	}
	if ents, _ := os.ReadDir(d.Root()); len(ents) != 0 {
		t.Errorf("root holds %v", ents)
	}
}

func TestCleanupRacesStage(t *testing.T) {
	// Cleanup running in a loop never deletes a directory being staged.
	root := t.TempDir()
	d, err := NewDirs(filepath.Join(root, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), filepath.Join(root, FileName))
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if err := d.Cleanup(context.Background(), s); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := 0; i < 100; i++ {
		st, err := d.Stage()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(st.Path(), "fs"), 0o755); err != nil {
			t.Fatalf("staged dir vanished under Cleanup: %v", err)
		}
		_, err = s.Create(t.Context(), snapshot.KindActive, "k"+strings.Repeat("x", i%3)+string(rune('a'+i%26))+string(rune('a'+i/26)), "", nil,
			func(sn Snapshot) error { return st.Install(sn.ID) })
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	ents, _ := os.ReadDir(d.Root())
	if len(ents) != 100 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("%d entries, want 100: %v", len(ents), names)
	}
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(d.Root(), e.Name(), "fs")); err != nil {
			t.Errorf("%s: %v", e.Name(), err)
		}
	}
}

func TestCleanup(t *testing.T) {
	root := t.TempDir()
	d, _ := NewDirs(filepath.Join(root, "snapshots"))
	s, err := Open(t.Context(), filepath.Join(root, FileName))
	if err != nil {
		t.Fatal(err)
	}
	sn, err := s.Create(t.Context(), snapshot.KindActive, "kept", "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{d.Path(sn.ID), d.Path(42), filepath.Join(d.Root(), "new-x"), filepath.Join(d.Root(), "rm-y"),
		filepath.Join(d.Root(), "0042"), filepath.Join(d.Root(), "other")} {
		if err := os.MkdirAll(filepath.Join(n, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Cleanup(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(d.Root())
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	want := []string{"0042", filepath.Base(d.Path(sn.ID)), "other"}
	if !slices.Equal(got, want) {
		t.Errorf("after Cleanup: %q, want %q", got, want)
	}
}

func TestDiskUsage(t *testing.T) {
	dir := t.TempDir()
	empty, err := DiskUsage(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if empty.Inodes != 1 {
		t.Errorf("empty dir: %+v, want 1 inode", empty)
	}
	data := make([]byte, 100<<10)
	for i := range data {
		data[i] = byte(i)
	}
	if err := os.WriteFile(filepath.Join(dir, "a"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"b", "sub/c"} {
		if err := os.Link(filepath.Join(dir, "a"), filepath.Join(dir, l)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a", filepath.Join(dir, "s")); err != nil {
		t.Fatal(err)
	}
	// A sparse file uses the blocks it has, not its length.
	f, err := os.Create(filepath.Join(dir, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	u, err := DiskUsage(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	// root, a (b, c are links), sub, s, sparse
	if u.Inodes != 5 {
		t.Errorf("Inodes = %d, want 5", u.Inodes)
	}
	if grown := u.Size - empty.Size; grown < int64(len(data)) || grown > int64(len(data))+64<<10 {
		t.Errorf("Size grew by %d for a %d-byte file with 3 links, a dir, a symlink and a sparse file", grown, len(data))
	}
	if _, err := DiskUsage(t.Context(), filepath.Join(dir, "missing")); err == nil {
		t.Error("DiskUsage of a missing dir succeeded")
	}
}
