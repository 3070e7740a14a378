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

// CommitActive is Commit for a directory snapshotter: it checks the new
// name, checks that key is active, asks usage for what the snapshot uses
// (the snapshotter's own accounting, and any work to finish first), and
// records the commit.
func (s *Store) CommitActive(ctx context.Context, name, snapName, key string, usage func(Snapshot) (snapshot.Usage, error), opts ...snapshot.Opt) error {
	if err := snapshot.ValidKey(snapName); err != nil {
		return fmt.Errorf("%s: commit snapshot %q: name: %w", name, key, err)
	}
	snap, err := s.GetSnapshot(ctx, key)
	if err != nil {
		return fmt.Errorf("%s: commit: %w", name, err)
	}
	if snap.Kind != snapshot.KindActive {
		return fmt.Errorf("%s: commit snapshot %q: it is %s: %w", name, key, snap.Kind, snapshot.ErrNotActive)
	}
	u, err := usage(snap)
	if err != nil {
		return fmt.Errorf("%s: commit snapshot %q: %w", name, key, err)
	}
	if _, err := s.Commit(ctx, key, snapName, u, opts...); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// MountsOf is Mounts for a directory snapshotter: it looks key up and
// asks mounts for the snapshotter's mounts of it.
func (s *Store) MountsOf(ctx context.Context, name, key string, mounts func(key string, snap Snapshot) ([]snapshot.Mount, error)) ([]snapshot.Mount, error) {
	snap, err := s.GetSnapshot(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("%s: mounts: %w", name, err)
	}
	m, err := mounts(key, snap)
	if err != nil {
		return nil, fmt.Errorf("%s: mounts: %w", name, err)
	}
	return m, nil
}
