package metadata

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkUpdate is the cost of one small write transaction, the unit of
// a create's and a removal's work on the store: the file opened and
// locked, one record put, the commit's two fdatasyncs, the file closed.
// Its disk is the test's temporary directory (TMPDIR).
func BenchmarkUpdate(b *testing.B) {
	db, err := Open(context.Background(), filepath.Join(b.TempDir(), FileName))
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		if err := db.Update(context.Background(), func(tx *bolt.Tx) error {
			return PutJSON(tx, BucketContainers, fmt.Sprint(i%50), map[string]string{"x": "y"})
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkView is the cost of a read transaction: the file opened,
// locked shared and closed, no sync.
func BenchmarkView(b *testing.B) {
	db, err := Open(context.Background(), filepath.Join(b.TempDir(), FileName))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := db.View(context.Background(), func(*bolt.Tx) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
