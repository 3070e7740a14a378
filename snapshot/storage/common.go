package storage

import (
	"context"
	"fmt"

	"github.com/stockade/stockade/snapshot"
)

// The helpers below are the Snapshotter methods that the directory
// snapshotters (overlay, copy, unionfs) implement the same way. name
// prefixes their errors ("overlay: ...").

// StatInfo returns the Info of the snapshot key.
func (s *Store) StatInfo(ctx context.Context, name, key string) (snapshot.Info, error) {
	rec, err := s.Stat(ctx, key)
	if err != nil {
		return snapshot.Info{}, fmt.Errorf("%s: stat: %w", name, err)
	}
	return rec.Info, nil
}

// WalkInfo calls fn with the Info of every snapshot, in key order.
func (s *Store) WalkInfo(ctx context.Context, fn func(context.Context, snapshot.Info) error) error {
	return s.Walk(ctx, func(ctx context.Context, r Record) error {
		return fn(ctx, r.Info)
	})
}

// RemoveSnapshot deletes the snapshot key: first its record, then its
// directory. It fails with an error wrapping snapshot.ErrHasChildren while
// another snapshot has key as parent. If the directory cannot be deleted
// the record is gone all the same, and Dirs.Cleanup deletes it later.
func RemoveSnapshot(ctx context.Context, s *Store, d *Dirs, name, key string) (Record, error) {
	rec, err := s.Remove(ctx, key)
	if err != nil {
		return Record{}, fmt.Errorf("%s: %w", name, err)
	}
	if err := d.Remove(rec.ID); err != nil {
		return rec, fmt.Errorf("%s: snapshot %q was removed but its files were not (Cleanup will retry): %w", name, key, err)
	}
	return rec, nil
}
