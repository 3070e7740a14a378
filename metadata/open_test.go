package metadata

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestOpenCurrentSchemaWritesNothing: opening a store whose schema is
// current only reads it (no write transaction, no fdatasync): the file's
// bytes stay the same. A store one migration behind is still migrated.
func TestOpenCurrentSchemaWritesNothing(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	ran := 0
	migs := []func(*bolt.Tx) error{func(tx *bolt.Tx) error { ran++; _, err := tx.CreateBucketIfNotExists([]byte("a")); return err }}
	if _, err := OpenFile(ctx, path, "test store", migs); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(ctx, path, "test store", migs); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("opening a current store changed its file")
	}
	if ran != 1 {
		t.Errorf("migration ran %d times, want 1", ran)
	}

	migs = append(migs, func(tx *bolt.Tx) error { ran++; _, err := tx.CreateBucketIfNotExists([]byte("b")); return err })
	db, err := OpenFile(ctx, path, "test store", migs)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := db.Schema(ctx); err != nil || v != 2 || ran != 2 {
		t.Errorf("after a new migration: schema %d (%v), migrations run %d; want 2 and 2", v, err, ran)
	}
}

// TestNamesIndexMigration: a store of schema 3 with container records
// gets the names index filled from them when a newer stockade opens it.
func TestNamesIndexMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	old, err := OpenFile(ctx, path, "metadata store", migrations[:3])
	if err != nil {
		t.Fatal(err)
	}
	recs := map[string]string{"id1": `{"id":"id1","name":"web"}`, "id2": `{"id":"id2","name":"db"}`, "id3": `{"id":"id3"}`}
	if err := old.Update(ctx, func(tx *bolt.Tx) error {
		for id, rec := range recs {
			if err := tx.Bucket([]byte(BucketContainers)).Put([]byte(id), []byte(rec)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	if err := db.View(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(BucketContainerNames)).ForEach(func(k, v []byte) error {
			got[string(k)] = string(v)
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["web"] != "id1" || got["db"] != "id2" {
		t.Errorf("names index %v, want web=id1 db=id2", got)
	}
}
