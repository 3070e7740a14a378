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
