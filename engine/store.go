package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/metadata"
)

// loadAll returns every container record, in key order. Over many
// records the decoding is spread over the processors (inParallel): ps,
// boot and every lookup by name decode them all.
func loadAll(tx *bolt.Tx) ([]*Container, error) {
	b := tx.Bucket([]byte(metadata.BucketContainers))
	if b == nil {
		return nil, nil
	}
	type stored struct{ key, data []byte }
	var recs []stored
	b.ForEach(func(k, v []byte) error {
		recs = append(recs, stored{k, v})
		return nil
	})
	all := make([]*Container, len(recs))
	errs := make([]error, len(recs))
	inParallel(len(recs), func(i int) {
		c := new(Container)
		if err := json.Unmarshal(recs[i].data, c); err != nil {
			errs[i] = fmt.Errorf("decode %s/%s: %w", metadata.BucketContainers, recs[i].key, err)
			return
		}
		all[i] = c
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return all, nil
}

// parallelMin is the fewest calls worth a goroutine of inParallel: a
// record decodes in about the time a goroutine takes to start.
const parallelMin = 64

// inParallel calls fn(i) for every i in [0, n): over up to GOMAXPROCS
// goroutines, at least parallelMin calls each, or in the caller's when n
// is small. fn must be safe to call concurrently for different i.
func inParallel(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n/parallelMin)
	if workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		})
	}
	wg.Wait()
}

func (e *Engine) records(ctx context.Context) ([]*Container, error) {
	var all []*Container
	err := e.DB.View(ctx, func(tx *bolt.Tx) error {
		var err error
		all, err = loadAll(tx)
		return err
	})
	return all, err
}

// find resolves ref to a container record.
func (e *Engine) find(ctx context.Context, ref string) (*Container, error) {
	// A full id is read as one key: the monitor, start, boot and wait name
	// containers by id, and decoding every record for each of them made
	// booting n containers cost n² decodes.
	if len(ref) == 64 && isHex(ref) {
		var c Container
		err := e.DB.View(ctx, func(tx *bolt.Tx) error {
			return metadata.GetJSON(tx, metadata.BucketContainers, ref, &c)
		})
		if err == nil {
			return &c, nil
		}
		if !errors.Is(err, metadata.ErrNotFound) {
			return nil, err
		}
	}
	all, err := e.records(ctx)
	if err != nil {
		return nil, err
	}
	return Resolve(all, ref)
}

// update changes the record of id in one transaction.
func (e *Engine) update(ctx context.Context, id string, fn func(c *Container) error) (*Container, error) {
	return e.updateWith(ctx, id, fn, nil)
}

// updateWith is update; also, when not nil, runs in the same transaction
// before the record is written.
func (e *Engine) updateWith(ctx context.Context, id string, fn func(c *Container) error, also func(tx *bolt.Tx) error) (*Container, error) {
	var out *Container
	err := e.DB.Update(ctx, func(tx *bolt.Tx) error {
		var c Container
		if err := metadata.GetJSON(tx, metadata.BucketContainers, id, &c); err != nil {
			if errors.Is(err, metadata.ErrNotFound) {
				return fmt.Errorf("container %s: %w", shortID(id), ErrNoSuchContainer)
			}
			return err
		}
		if err := fn(&c); err != nil {
			return err
		}
		if e.updateHook != nil {
			e.updateHook(&c)
		}
		if also != nil {
			if err := also(tx); err != nil {
				return err
			}
		}
		out = &c
		return metadata.PutJSON(tx, metadata.BucketContainers, id, &c)
	})
	return out, err
}

// setState records a new state for id.
func (e *Engine) setState(ctx context.Context, id string, fn func(s *State)) error {
	_, err := e.update(ctx, id, func(c *Container) error {
		fn(&c.State)
		return nil
	})
	return err
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
