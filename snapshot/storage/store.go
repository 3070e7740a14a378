// Package storage holds what the directory-based snapshotters (overlay,
// copy and unionfs) share: Base, the snapshot.Snapshotter methods written
// once, which each of them embeds and completes with a Backend; the
// metadata Store that maps snapshot keys to numeric ids, kinds, parents and
// labels; the Dirs layout that creates and deletes the per-snapshot
// directories without leaving half-made ones behind; and DiskUsage, a
// du-like walk.
//
// The Store is a bbolt file of its own under the snapshotter's root. Like
// metadata.DB it is opened for each transaction and closed right after, so
// several processes (the CLI, monitors, boot scripts) can use the same root
// at once: a process that finds the file locked waits for it. Read
// transactions share the lock; write transactions are serialised.
package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/metadata"
	"github.com/stockade/stockade/snapshot"
)

// FileName is the conventional name of the store's file under a
// snapshotter's root.
const FileName = "metadata.db"

// Bucket names. Records live in bucketSnapshots keyed by snapshot key or
// name; bucketChildren has one empty value per parent/child pair, keyed by
// parent + "\x00" + child, so that "has children" is one cursor seek.
const (
	bucketMeta      = "meta"
	bucketSnapshots = "snapshots"
	bucketChildren  = "children"
)

// migrations[i] upgrades schema version i to i+1. Append only.
var migrations = []func(tx *bolt.Tx) error{
	// 0 -> 1: the initial buckets.
	func(tx *bolt.Tx) error {
		for _, b := range []string{bucketSnapshots, bucketChildren} {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	},
}

// Store is a handle on a snapshotter's metadata file. It holds no open file
// between transactions and is safe for concurrent use by several goroutines
// and, through the file lock, by several processes.
type Store struct {
	path string
	// db opens the file per transaction, as the metadata store does.
	db *metadata.DB
	// mu orders this process's own transactions so that they queue on a
	// mutex instead of polling the file lock.
	mu sync.RWMutex
}

// Snapshot is what a snapshotter needs to find a snapshot's directories.
type Snapshot struct {
	// ID is the snapshot's number, unique in the store and never reused
	// once a record holding it has been committed.
	ID uint64
	// Kind is the snapshot's state.
	Kind snapshot.Kind
	// ParentIDs are the ids of the parent chain, nearest parent first.
	ParentIDs []uint64
}

// Record is everything the store keeps about one snapshot.
type Record struct {
	snapshot.Info
	// ID is the snapshot's number; Commit keeps it.
	ID uint64
	// Usage is the space recorded by Commit; zero for active snapshots and
	// views, whose usage changes and must be measured.
	Usage snapshot.Usage
}

// record is the JSON form of a Record in the file; the name is the key.
type record struct {
	ID      uint64            `json:"id"`
	Kind    string            `json:"kind"`
	Parent  string            `json:"parent,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	Created time.Time         `json:"created"`
	Updated time.Time         `json:"updated"`
	Size    int64             `json:"size,omitempty"`
	Inodes  int64             `json:"inodes,omitempty"`
}

func (r *record) toRecord(name string) (Record, error) {
	k, err := snapshot.ParseKind(r.Kind)
	if err != nil {
		return Record{}, fmt.Errorf("snapshot %q: %w", name, err)
	}
	return Record{
		Info: snapshot.Info{
			Name:    name,
			Parent:  r.Parent,
			Kind:    k,
			Labels:  r.Labels,
			Created: r.Created,
			Updated: r.Updated,
		},
		ID:    r.ID,
		Usage: snapshot.Usage{Size: r.Size, Inodes: r.Inodes},
	}, nil
}

// Open creates the store at path if needed and brings its schema up to date.
func Open(ctx context.Context, path string) (*Store, error) {
	db, err := metadata.OpenFile(ctx, path, "snapshot store", migrations)
	if err != nil {
		return nil, err
	}
	return &Store{path: path, db: db}, nil
}

// Path returns the file's path.
func (s *Store) Path() string { return s.path }

func (s *Store) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.db.View(ctx, fn)
}

func (s *Store) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.Update(ctx, fn)
}

func getRecord(tx *bolt.Tx, key string) (*record, error) {
	b := tx.Bucket([]byte(bucketSnapshots))
	if b == nil {
		return nil, fmt.Errorf("snapshot %q: %w", key, snapshot.ErrNotFound)
	}
	data := b.Get([]byte(key))
	if data == nil {
		return nil, fmt.Errorf("snapshot %q: %w", key, snapshot.ErrNotFound)
	}
	r := new(record)
	if err := json.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("snapshot %q: decode record: %w", key, err)
	}
	return r, nil
}

func putRecord(tx *bolt.Tx, key string, r *record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("snapshot %q: encode record: %w", key, err)
	}
	if err := tx.Bucket([]byte(bucketSnapshots)).Put([]byte(key), data); err != nil {
		return fmt.Errorf("snapshot %q: %w", key, err)
	}
	return nil
}

func childKey(parent, child string) []byte {
	return []byte(parent + "\x00" + child)
}

// hasChildren reports the first child of parent, if any.
func firstChild(tx *bolt.Tx, parent string) (string, bool) {
	prefix := []byte(parent + "\x00")
	k, _ := tx.Bucket([]byte(bucketChildren)).Cursor().Seek(prefix)
	if k == nil || len(k) < len(prefix) || string(k[:len(prefix)]) != string(prefix) {
		return "", false
	}
	return string(k[len(prefix):]), true
}

// parentIDs follows the parent chain of r, nearest first.
func parentIDs(tx *bolt.Tx, key string, r *record) ([]uint64, error) {
	var ids []uint64
	for p := r.Parent; p != ""; {
		pr, err := getRecord(tx, p)
		if err != nil {
			return nil, fmt.Errorf("snapshot %q: parent chain is broken: %w", key, err)
		}
		ids = append(ids, pr.ID)
		if len(ids) > 10000 {
			return nil, fmt.Errorf("snapshot %q: parent chain loops", key)
		}
		p = pr.Parent
	}
	return ids, nil
}

func validKind(kind snapshot.Kind) error {
	if kind != snapshot.KindActive && kind != snapshot.KindView {
		return fmt.Errorf("cannot create a snapshot of kind %s", kind)
	}
	return nil
}

// Create records a new active snapshot or view named key on top of the
// committed snapshot parent ("" for none), with a fresh id.
//
// fn, when not nil, is called inside the write transaction once the id is
// known, typically to rename a prepared directory into place: if fn fails
// nothing is recorded, and since the store's write lock is held no other
// process can take the same id meanwhile. Errors wrap snapshot.ErrExists,
// ErrNotFound (no such parent), ErrNotCommitted (parent not committed) or
// ErrInvalidKey.
func (s *Store) Create(ctx context.Context, kind snapshot.Kind, key, parent string, opts []snapshot.Opt, fn func(Snapshot) error) (Snapshot, error) {
	if err := validKind(kind); err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %q: %w", key, err)
	}
	if err := snapshot.ValidKey(key); err != nil {
		return Snapshot{}, fmt.Errorf("create snapshot: %w", err)
	}
	if parent != "" {
		if err := snapshot.ValidKey(parent); err != nil {
			return Snapshot{}, fmt.Errorf("snapshot %q: parent: %w", key, err)
		}
	}
	var info snapshot.Info
	for _, o := range opts {
		o(&info)
	}
	var snap Snapshot
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketSnapshots))
		if b.Get([]byte(key)) != nil {
			return fmt.Errorf("snapshot %q: %w", key, snapshot.ErrExists)
		}
		var pids []uint64
		if parent != "" {
			pr, err := getRecord(tx, parent)
			if err != nil {
				return fmt.Errorf("snapshot %q: parent: %w", key, err)
			}
			if pr.Kind != snapshot.KindCommitted.String() {
				return fmt.Errorf("snapshot %q: parent %q is %s: %w", key, parent, pr.Kind, snapshot.ErrNotCommitted)
			}
			ids, err := parentIDs(tx, parent, pr)
			if err != nil {
				return err
			}
			pids = append([]uint64{pr.ID}, ids...)
			if err := tx.Bucket([]byte(bucketChildren)).Put(childKey(parent, key), nil); err != nil {
				return err
			}
		}
		id, err := b.NextSequence()
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		r := &record{
			ID:      id,
			Kind:    kind.String(),
			Parent:  parent,
			Labels:  info.Labels,
			Created: now,
			Updated: now,
		}
		if err := putRecord(tx, key, r); err != nil {
			return err
		}
		snap = Snapshot{ID: id, Kind: kind, ParentIDs: pids}
		if fn != nil {
			return fn(snap)
		}
		return nil
	})
	if err != nil {
		return Snapshot{}, fmt.Errorf("create snapshot %q in %s: %w", key, s.path, err)
	}
	return snap, nil
}

// GetSnapshot returns the id, kind and parent chain of the snapshot key.
func (s *Store) GetSnapshot(ctx context.Context, key string) (Snapshot, error) {
	var snap Snapshot
	err := s.view(ctx, func(tx *bolt.Tx) error {
		r, err := getRecord(tx, key)
		if err != nil {
			return err
		}
		k, err := snapshot.ParseKind(r.Kind)
		if err != nil {
			return fmt.Errorf("snapshot %q: %w", key, err)
		}
		pids, err := parentIDs(tx, key, r)
		if err != nil {
			return err
		}
		snap = Snapshot{ID: r.ID, Kind: k, ParentIDs: pids}
		return nil
	})
	return snap, err
}

// Stat returns the record of the snapshot key, or an error wrapping
// snapshot.ErrNotFound.
func (s *Store) Stat(ctx context.Context, key string) (Record, error) {
	var rec Record
	err := s.view(ctx, func(tx *bolt.Tx) error {
		r, err := getRecord(tx, key)
		if err != nil {
			return err
		}
		rec, err = r.toRecord(key)
		return err
	})
	return rec, err
}

// Commit renames the active snapshot key to the committed snapshot name,
// keeping its id, recording usage and merging the labels set by opts into
// the active snapshot's labels. Errors wrap snapshot.ErrNotFound,
// ErrNotActive (key is a view or committed), ErrExists (name is taken) or
// ErrInvalidKey.
func (s *Store) Commit(ctx context.Context, key, name string, usage snapshot.Usage, opts ...snapshot.Opt) (Record, error) {
	if err := snapshot.ValidKey(name); err != nil {
		return Record{}, fmt.Errorf("commit snapshot %q: name: %w", key, err)
	}
	var rec Record
	err := s.update(ctx, func(tx *bolt.Tx) error {
		r, err := getRecord(tx, key)
		if err != nil {
			return err
		}
		if r.Kind != snapshot.KindActive.String() {
			return fmt.Errorf("snapshot %q is %s: %w", key, r.Kind, snapshot.ErrNotActive)
		}
		b := tx.Bucket([]byte(bucketSnapshots))
		if b.Get([]byte(name)) != nil {
			return fmt.Errorf("snapshot %q: %w", name, snapshot.ErrExists)
		}
		if c, ok := firstChild(tx, key); ok {
			// An active snapshot cannot be a parent; a record saying so
			// means the file was damaged.
			return fmt.Errorf("snapshot %q: active snapshot has child %q: %w", key, c, snapshot.ErrHasChildren)
		}
		info := snapshot.Info{Labels: r.Labels}
		for _, o := range opts {
			o(&info)
		}
		r.Kind = snapshot.KindCommitted.String()
		r.Labels = info.Labels
		r.Updated = time.Now().UTC()
		r.Size, r.Inodes = usage.Size, usage.Inodes
		if err := b.Delete([]byte(key)); err != nil {
			return err
		}
		if err := putRecord(tx, name, r); err != nil {
			return err
		}
		if r.Parent != "" {
			cb := tx.Bucket([]byte(bucketChildren))
			if err := cb.Delete(childKey(r.Parent, key)); err != nil {
				return err
			}
			if err := cb.Put(childKey(r.Parent, name), nil); err != nil {
				return err
			}
		}
		rec, err = r.toRecord(name)
		return err
	})
	if err != nil {
		return Record{}, fmt.Errorf("commit snapshot %q as %q in %s: %w", key, name, s.path, err)
	}
	return rec, nil
}

// Remove deletes the record of the snapshot key and returns it, so that the
// caller can delete the snapshot's directory afterwards. It fails with an
// error wrapping snapshot.ErrHasChildren while another snapshot names key
// as its parent, and with ErrNotFound when there is no such snapshot.
func (s *Store) Remove(ctx context.Context, key string) (Record, error) {
	var rec Record
	err := s.update(ctx, func(tx *bolt.Tx) error {
		r, err := getRecord(tx, key)
		if err != nil {
			return err
		}
		if c, ok := firstChild(tx, key); ok {
			return fmt.Errorf("snapshot %q is the parent of %q: %w", key, c, snapshot.ErrHasChildren)
		}
		if err := tx.Bucket([]byte(bucketSnapshots)).Delete([]byte(key)); err != nil {
			return err
		}
		if r.Parent != "" {
			if err := tx.Bucket([]byte(bucketChildren)).Delete(childKey(r.Parent, key)); err != nil {
				return err
			}
		}
		rec, err = r.toRecord(key)
		return err
	})
	if err != nil {
		return Record{}, fmt.Errorf("remove snapshot %q from %s: %w", key, s.path, err)
	}
	return rec, nil
}

// Walk calls fn for every record, in key order. The records are read in one
// transaction and fn runs after it has ended, so fn may call the store (or
// the snapshotter) again.
func (s *Store) Walk(ctx context.Context, fn func(context.Context, Record) error) error {
	var recs []Record
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketSnapshots)).ForEach(func(k, v []byte) error {
			r := new(record)
			if err := json.Unmarshal(v, r); err != nil {
				return fmt.Errorf("snapshot %q: decode record: %w", k, err)
			}
			rec, err := r.toRecord(string(k))
			if err != nil {
				return err
			}
			recs = append(recs, rec)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("walk snapshots in %s: %w", s.path, err)
	}
	for _, r := range recs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// WithIDs runs fn while holding the store's write lock, with the ids of all
// recorded snapshots mapped to their names. No snapshot can be created,
// committed or removed by any process while fn runs, so fn can tell safely
// which directories belong to no snapshot. fn must be quick and must not
// call the store.
func (s *Store) WithIDs(ctx context.Context, fn func(ids map[uint64]string) error) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		ids := make(map[uint64]string)
		err := tx.Bucket([]byte(bucketSnapshots)).ForEach(func(k, v []byte) error {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("snapshot %q: decode record: %w", k, err)
			}
			ids[r.ID] = string(k)
			return nil
		})
		if err != nil {
			return err
		}
		return fn(ids)
	})
	if err != nil {
		return fmt.Errorf("snapshot store %s: %w", s.path, err)
	}
	return nil
}
