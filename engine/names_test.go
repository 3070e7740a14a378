package engine

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/metadata"
)

// TestNameIndex: a name is taken once; its owner may take it again; a
// name whose record is gone is free; only the owner releases it.
func TestNameIndex(t *testing.T) {
	ctx := context.Background()
	db, err := metadata.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	put := func(id, name string) func(tx *bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			if err := reserveName(tx, name, id); err != nil {
				return err
			}
			return metadata.PutJSON(tx, metadata.BucketContainers, id, &Container{ID: id, Name: name})
		}
	}
	steps := []struct {
		what    string
		do      func(tx *bolt.Tx) error
		wantErr error
	}{
		{"first owner", put("aaaa", "web"), nil},
		{"same name, other container", put("bbbb", "web"), ErrNameInUse},
		{"owner again", func(tx *bolt.Tx) error { return reserveName(tx, "web", "aaaa") }, nil},
		{"release by another does nothing", func(tx *bolt.Tx) error { return releaseName(tx, "web", "bbbb") }, nil},
		{"still taken", put("bbbb", "web"), ErrNameInUse},
		{"release by the owner", func(tx *bolt.Tx) error { return releaseName(tx, "web", "aaaa") }, nil},
		{"free again", put("bbbb", "web"), nil},
		// An index entry without its record (the record went without the
		// index, as before it was kept) does not hold the name.
		{"stale entry", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte(metadata.BucketContainerNames)).Put([]byte("old"), []byte("cccc"))
		}, nil},
		{"stale name is free", put("dddd", "old"), nil},
	}
	for _, st := range steps {
		err := db.Update(ctx, st.do)
		if !errors.Is(err, st.wantErr) || (st.wantErr == nil && err != nil) {
			t.Fatalf("%s: %v, want %v", st.what, err, st.wantErr)
		}
	}
}
