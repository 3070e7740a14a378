package engine

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/metadata"
)

// loadAll returns every container record.
func loadAll(tx *bolt.Tx) ([]*Container, error) {
	var all []*Container
	err := metadata.ForEachJSON(tx, metadata.BucketContainers, func(_ string, c *Container) error {
		all = append(all, c)
		return nil
	})
	return all, err
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
