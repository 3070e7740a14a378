package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/metadata"
)

// findEngine is an engine over a store of n containers; it returns their ids.
func findEngine(tb testing.TB, n int) (*Engine, []string) {
	tb.Helper()
	ctx := context.Background()
	db, err := metadata.Open(ctx, filepath.Join(tb.TempDir(), metadata.FileName))
	if err != nil {
		tb.Fatal(err)
	}
	var ids []string
	err = db.Update(ctx, func(tx *bolt.Tx) error {
		for i := 0; i < n; i++ {
			id, _ := NewID()
			ids = append(ids, id)
			c := &Container{ID: id, Name: fmt.Sprintf("c%d", i), Image: "x", Created: time.Now()}
			if err := metadata.PutJSON(tx, metadata.BucketContainers, id, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return &Engine{DB: db}, ids
}

// TestFind: a full id, a unique prefix and a name find their container;
// an unknown full id is no such container.
func TestFind(t *testing.T) {
	ctx := context.Background()
	e, ids := findEngine(t, 3)
	for _, ref := range []string{ids[1], ids[1][:12], "c1", "/c1"} {
		c, err := e.find(ctx, ref)
		if err != nil || c.ID != ids[1] || c.Name != "c1" {
			t.Errorf("find %q: %+v, %v; want c1", ref, c, err)
		}
	}
	unknown := "0000000000000000000000000000000000000000000000000000000000000000"
	if _, err := e.find(ctx, unknown); !errors.Is(err, ErrNoSuchContainer) {
		t.Errorf("find of an unknown id: %v, want ErrNoSuchContainer", err)
	}
}

// BenchmarkFindByID1000 is the lookup that start, boot, wait and the
// monitor make, by full id, among 1000 containers.
func BenchmarkFindByID1000(b *testing.B) {
	ctx := context.Background()
	e, ids := findEngine(b, 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.find(ctx, ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFindByName1000 is a lookup by name among 1000 containers,
// which decodes every record.
func BenchmarkFindByName1000(b *testing.B) {
	ctx := context.Background()
	e, _ := findEngine(b, 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.find(ctx, fmt.Sprintf("c%d", i%1000)); err != nil {
			b.Fatal(err)
		}
	}
}
