package build

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/stockade/stockade/metadata"
)

func TestCacheKey(t *testing.T) {
	base := cacheKey{Parent: digest.FromString("p"), Code: "RUN make", Command: []byte(`{"a":1}`), Args: map[string]string{"A": "1", "B": "2"}}
	same := base
	same.Args = map[string]string{"B": "2", "A": "1"}
	if base.String() != same.String() {
		t.Error("the order of the args changed the key")
	}
	for name, k := range map[string]cacheKey{
		"parent": {Parent: digest.FromString("q"), Code: base.Code, Command: base.Command, Args: base.Args},
		"code":   {Parent: base.Parent, Code: "RUN make all", Command: base.Command, Args: base.Args},
		"args":   {Parent: base.Parent, Code: base.Code, Command: base.Command, Args: map[string]string{"A": "2", "B": "2"}},
		"files":  {Parent: base.Parent, Code: base.Code, Command: base.Command, Args: base.Args, Files: "x"},
	} {
		if k.String() == base.String() {
			t.Errorf("another %s, the same key", name)
		}
	}
}

// TestCacheConcurrent: builds in several processes share the cache
// through the metadata store; goroutines writing and reading at once see
// every record whole.
func TestCacheConcurrent(t *testing.T) {
	ctx := context.Background()
	db, err := metadata.Open(ctx, filepath.Join(t.TempDir(), metadata.FileName))
	if err != nil {
		t.Fatal(err)
	}
	c := &cache{db: db}
	if _, ok, err := c.get(ctx, "nothing"); ok || err != nil {
		t.Fatalf("get from an empty cache: %v %v", ok, err)
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				key := fmt.Sprintf("k%d", i)
				if err := c.put(ctx, key, digest.FromString(key)); err != nil {
					t.Error(err)
					return
				}
				if got, ok, err := c.get(ctx, key); err != nil || !ok || got != digest.FromString(key) {
					t.Errorf("get %s: %s %v %v", key, got, ok, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	c.forget(ctx, "k3")
	if _, ok, _ := c.get(ctx, "k3"); ok {
		t.Error("a forgotten key is still there")
	}
}
