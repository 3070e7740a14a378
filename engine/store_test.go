package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/metadata"
)

// TestInParallel checks that every index is called exactly once, whether
// the calls run in the caller or over several goroutines.
func TestInParallel(t *testing.T) {
	for _, n := range []int{0, 1, parallelMin, 2*parallelMin - 1, 2 * parallelMin, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			calls := make([]atomic.Int32, n)
			inParallel(n, func(i int) { calls[i].Add(1) })
			for i := range calls {
				if got := calls[i].Load(); got != 1 {
					t.Fatalf("index %d called %d times", i, got)
				}
			}
		})
	}
}

// TestLoadAll checks loadAll over enough records to be decoded in
// parallel: all of them, in key order, and for records that do not
// decode, the error of the first one in key order.
func TestLoadAll(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		n    int
		bad  []int // indexes, in key order, of records stored as bad JSON
	}{
		{"none", 0, nil},
		{"few", 3, nil},
		{"many", 500, nil},
		{"many, two bad", 500, []int{123, 401}},
		{"few, one bad", 5, []int{4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := metadata.Open(ctx, filepath.Join(t.TempDir(), metadata.FileName))
			if err != nil {
				t.Fatal(err)
			}
			ids := make([]string, tc.n)
			for i := range ids {
				if ids[i], err = NewID(); err != nil {
					t.Fatal(err)
				}
			}
			slices.Sort(ids)
			err = db.Update(ctx, func(tx *bolt.Tx) error {
				for i, id := range ids {
					if slices.Contains(tc.bad, i) {
						b, err := tx.CreateBucketIfNotExists([]byte(metadata.BucketContainers))
						if err != nil {
							return err
						}
						if err := b.Put([]byte(id), []byte(`{"id":`)); err != nil {
							return err
						}
						continue
					}
					c := &Container{ID: id, Name: fmt.Sprintf("c%d", i), State: State{Status: StatusExited}}
					if err := metadata.PutJSON(tx, metadata.BucketContainers, id, c); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			var all []*Container
			err = db.View(ctx, func(tx *bolt.Tx) error {
				all, err = loadAll(tx)
				return err
			})
			if len(tc.bad) > 0 {
				if err == nil || !strings.Contains(err.Error(), ids[tc.bad[0]]) {
					t.Fatalf("error %v, want one naming %s", err, ids[tc.bad[0]])
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != tc.n {
				t.Fatalf("%d records, want %d", len(all), tc.n)
			}
			for i, c := range all {
				if c.ID != ids[i] || c.Name != fmt.Sprintf("c%d", i) {
					t.Fatalf("record %d is %s %s, want %s c%d", i, c.ID, c.Name, ids[i], i)
				}
			}
		})
	}
}
