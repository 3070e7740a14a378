package storage

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/snapshot"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), FileName))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustCreate(t *testing.T, s *Store, kind snapshot.Kind, key, parent string, opts ...snapshot.Opt) Snapshot {
	t.Helper()
	snap, err := s.Create(t.Context(), kind, key, parent, opts, nil)
	if err != nil {
		t.Fatalf("Create(%s, %q, %q): %v", kind, key, parent, err)
	}
	return snap
}

func mustCommit(t *testing.T, s *Store, key, name string) Record {
	t.Helper()
	r, err := s.Commit(t.Context(), key, name, snapshot.Usage{})
	if err != nil {
		t.Fatalf("Commit(%q, %q): %v", key, name, err)
	}
	return r
}

func TestChainIDs(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	a := mustCreate(t, s, snapshot.KindActive, "a-active", "")
	ra := mustCommit(t, s, "a-active", "a")
	if ra.ID != a.ID {
		t.Errorf("Commit changed the id from %d to %d", a.ID, ra.ID)
	}
	b := mustCreate(t, s, snapshot.KindActive, "b-active", "a")
	mustCommit(t, s, "b-active", "b")
	c := mustCreate(t, s, snapshot.KindActive, "c", "b")
	v := mustCreate(t, s, snapshot.KindView, "v", "b")

	tests := []struct {
		key  string
		want Snapshot
	}{
		{"a", Snapshot{ID: a.ID, Kind: snapshot.KindCommitted}},
		{"b", Snapshot{ID: b.ID, Kind: snapshot.KindCommitted, ParentIDs: []uint64{a.ID}}},
		{"c", Snapshot{ID: c.ID, Kind: snapshot.KindActive, ParentIDs: []uint64{b.ID, a.ID}}},
		{"v", Snapshot{ID: v.ID, Kind: snapshot.KindView, ParentIDs: []uint64{b.ID, a.ID}}},
	}
	for _, tc := range tests {
		got, err := s.GetSnapshot(ctx, tc.key)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != tc.want.ID || got.Kind != tc.want.Kind || !slices.Equal(got.ParentIDs, tc.want.ParentIDs) {
			t.Errorf("GetSnapshot(%q) = %+v, want %+v", tc.key, got, tc.want)
		}
	}
	if c.ParentIDs[0] != b.ID || v.ParentIDs[1] != a.ID {
		t.Errorf("Create returned parent ids %v and %v", c.ParentIDs, v.ParentIDs)
	}
	// Ids are never reused, even after removal.
	if _, err := s.Remove(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	d := mustCreate(t, s, snapshot.KindActive, "d", "")
	if d.ID <= v.ID {
		t.Errorf("new id %d is not above the highest id %d ever used", d.ID, v.ID)
	}
}

func TestErrors(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	mustCreate(t, s, snapshot.KindActive, "base-active", "")
	mustCommit(t, s, "base-active", "base")
	mustCreate(t, s, snapshot.KindActive, "active", "base")
	mustCreate(t, s, snapshot.KindView, "view", "base")

	create := func(kind snapshot.Kind, key, parent string) func() error {
		return func() error { _, err := s.Create(ctx, kind, key, parent, nil, nil); return err }
	}
	commit := func(key, name string) func() error {
		return func() error { _, err := s.Commit(ctx, key, name, snapshot.Usage{}); return err }
	}
	remove := func(key string) func() error {
		return func() error { _, err := s.Remove(ctx, key); return err }
	}
	tests := []struct {
		name string
		fn   func() error
		want error
	}{
		{"duplicate active", create(snapshot.KindActive, "active", ""), snapshot.ErrExists},
		{"duplicate of committed", create(snapshot.KindView, "base", "base"), snapshot.ErrExists},
		{"missing parent", create(snapshot.KindActive, "x", "missing"), snapshot.ErrNotFound},
		{"active parent", create(snapshot.KindActive, "x", "active"), snapshot.ErrNotCommitted},
		{"view parent", create(snapshot.KindView, "x", "view"), snapshot.ErrNotCommitted},
		{"invalid key", create(snapshot.KindActive, "a/b", ""), snapshot.ErrInvalidKey},
		{"invalid parent", create(snapshot.KindActive, "x", ".p"), snapshot.ErrInvalidKey},
		{"commit committed", commit("base", "x"), snapshot.ErrNotActive},
		{"commit view", commit("view", "x"), snapshot.ErrNotActive},
		{"commit missing", commit("missing", "x"), snapshot.ErrNotFound},
		{"commit onto existing", commit("active", "view"), snapshot.ErrExists},
		{"commit invalid name", commit("active", ""), snapshot.ErrInvalidKey},
		{"remove parent", remove("base"), snapshot.ErrHasChildren},
		{"remove missing", remove("missing"), snapshot.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.fn(); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want an error wrapping %q", err, tc.want)
			}
		})
	}
	if _, err := s.Create(ctx, snapshot.KindCommitted, "x", "", nil, nil); err == nil {
		t.Error("Create of a committed snapshot succeeded")
	}
	var n int
	if err := s.Walk(ctx, func(context.Context, Record) error { n++; return nil }); err != nil || n != 3 {
		t.Errorf("after the failures Walk saw %d records, %v; want 3", n, err)
	}
}

func TestCreateCallback(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	boom := errors.New("boom")
	var seen Snapshot
	_, err := s.Create(ctx, snapshot.KindActive, "a", "", nil, func(sn Snapshot) error { seen = sn; return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Create with a failing fn: %v", err)
	}
	if _, err := s.Stat(ctx, "a"); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("failed Create left a record: %v", err)
	}
	// The id of the rolled-back transaction is handed out again.
	got := mustCreate(t, s, snapshot.KindActive, "a", "")
	if got.ID != seen.ID {
		t.Errorf("id %d after a rollback, want %d again", got.ID, seen.ID)
	}
}

func TestLabelsAndTimes(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	before := time.Now()
	mustCreate(t, s, snapshot.KindActive, "a", "", snapshot.WithLabels(map[string]string{"x": "1", "y": "1"}))
	r, err := s.Commit(ctx, "a", "c", snapshot.Usage{Size: 10, Inodes: 2}, snapshot.WithLabels(map[string]string{"y": "2"}))
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Stat(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range []Record{r, st} {
		if got.Name != "c" || got.Kind != snapshot.KindCommitted || got.Labels["x"] != "1" || got.Labels["y"] != "2" {
			t.Errorf("record %+v", got)
		}
		if got.Usage != (snapshot.Usage{Size: 10, Inodes: 2}) {
			t.Errorf("usage %+v", got.Usage)
		}
		if got.Created.Before(before.Add(-time.Second)) || got.Updated.Before(got.Created) {
			t.Errorf("times %v %v", got.Created, got.Updated)
		}
	}
}

func TestReopenAndSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	ctx := t.Context()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, snapshot.KindActive, "a", "")
	s2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s2.Stat(ctx, "a"); err != nil || r.Kind != snapshot.KindActive {
		t.Errorf("reopened Stat(a) = %+v, %v", r, err)
	}
	// A file written by a newer stockade is refused.
	err = s2.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketMeta)).Put([]byte("schema"), []byte{0, 0, 0, 0, 0, 0, 0, 99})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, path); err == nil {
		t.Error("Open of a newer schema succeeded")
	}
}

func TestCanceled(t *testing.T) {
	s := openTest(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Stat(ctx, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("Stat with a canceled context: %v", err)
	}
}

func TestLockWait(t *testing.T) {
	// Another process holding the file makes transactions wait, not fail.
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	other, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(600 * time.Millisecond)
		close(released)
		other.Close()
	}()
	start := time.Now()
	mustCreate(t, s, snapshot.KindActive, "a", "")
	select {
	case <-released:
	default:
		t.Errorf("Create finished after %v while the file was locked", time.Since(start))
	}
	// A short deadline turns the wait into an error.
	other, err = bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := s.Stat(ctx, "a"); err == nil {
		t.Error("Stat succeeded while the file was locked")
	}
}

func TestConcurrentCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	var stores [3]*Store
	for i := range stores {
		s, err := Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		stores[i] = s
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ids := map[uint64]bool{}
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[w%len(stores)]
			for i := 0; i < 10; i++ {
				key := string(rune('a'+w)) + "-" + string(rune('0'+i))
				sn, err := s.Create(t.Context(), snapshot.KindActive, key, "", nil, nil)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if ids[sn.ID] {
					t.Errorf("id %d handed out twice", sn.ID)
				}
				ids[sn.ID] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(ids) != 60 {
		t.Errorf("%d ids, want 60", len(ids))
	}
}
