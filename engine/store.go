package engine

import (
	"bytes"
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

// loadAll returns every container record.
func loadAll(tx *bolt.Tx) ([]*Container, error) {
	return decodeRecords(storedRecords(tx, false), nil)
}

// storedRecord is one container record as the store holds it: its key
// and its JSON.
type storedRecord struct {
	key  string
	data []byte
}

// storedRecords returns every container record of tx undecoded, in key
// order. Their data belong to tx unless copied is set: then they are
// copies that outlive it, so that a caller can end the transaction (and
// let the monitors write) before it decodes them.
func storedRecords(tx *bolt.Tx, copied bool) []storedRecord {
	b := tx.Bucket([]byte(metadata.BucketContainers))
	if b == nil {
		return nil
	}
	var recs []storedRecord
	b.ForEach(func(k, v []byte) error {
		if copied {
			v = bytes.Clone(v)
		}
		recs = append(recs, storedRecord{key: string(k), data: v})
		return nil
	})
	return recs
}

// decodeMin is the fewest records worth a goroutine of decodeRecords:
// under it a record decodes faster than a goroutine starts.
const decodeMin = 64

// decodeRecords decodes recs, in their order, and calls each (when not
// nil) on every container as soon as it is decoded. Over more than
// decodeMin records the work is spread over GOMAXPROCS goroutines, so
// each must be safe to call concurrently for different containers. The
// error is the first record's, in order, that does not decode.
func decodeRecords(recs []storedRecord, each func(*Container)) ([]*Container, error) {
	all := make([]*Container, len(recs))
	errs := make([]error, len(recs))
	decode := func(i int) {
		c := new(Container)
		if err := json.Unmarshal(recs[i].data, c); err != nil {
			errs[i] = fmt.Errorf("decode %s/%s: %w", metadata.BucketContainers, recs[i].key, err)
			return
		}
		if each != nil {
			each(c)
		}
		all[i] = c
	}
	workers := min(runtime.GOMAXPROCS(0), len(recs)/decodeMin)
	if workers <= 1 {
		for i := range recs {
			decode(i)
		}
	} else {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for i := int(next.Add(1) - 1); i < len(recs); i = int(next.Add(1) - 1) {
					decode(i)
				}
			})
		}
		wg.Wait()
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return all, nil
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
