// Package metadata is stockade's metadata store: one bbolt file under the
// data root holding the records of images and containers.
//
// Several stockade processes use the same file at once (the CLI, monitors,
// the rc.d boot sequence), so the file is opened for each transaction and
// closed right after: bbolt's file lock is held only for the length of one
// short transaction, and a process that finds the file locked waits for it
// instead of failing. Read transactions take a shared lock and run in
// parallel; write transactions are serialised.
package metadata

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/internal/flock"
)

// FileName is the name of the store's file under the data root.
const FileName = "metadata.db"

// Bucket names used by stockade. Packages own their buckets: image records
// live in BucketImages, container records in BucketContainers.
const (
	BucketMeta       = "meta"
	BucketImages     = "images"
	BucketContainers = "containers"
	// BucketNetworks holds the network package's networks, BucketLeases
	// its address leases.
	BucketNetworks = "networks"
	BucketLeases   = "leases"
	// BucketVolumes holds the volume package's named volumes.
	BucketVolumes = "volumes"
	// BucketContainerNames maps each container's name to its id, so a
	// name is checked and reserved with one key.
	BucketContainerNames = "container-names"
	// The network package's indexes of its leases, written in the same
	// transactions as the leases, so that taking and freeing a lease
	// reads what the request names, not every lease:
	// BucketLeasePorts maps a host port ("tcp/08080") to the leases that
	// publish it (a JSON list of host address, container id and name,
	// lease key); BucketContainerLeases has a key per lease of a
	// container (container id + "/" + lease key); BucketLeaseMarks
	// holds a network's mark per address family (network id + "/4" or
	// "/6": the address a search for the lowest free one starts at), and
	// BucketLeaseFree the free addresses below the marks (lease keys).
	BucketLeasePorts      = "lease-ports"
	BucketContainerLeases = "container-leases"
	BucketLeaseMarks      = "lease-marks"
	BucketLeaseFree       = "lease-free"
	// BucketUserLookups keeps what a user spec resolved to in an image's
	// root (bundle.UserInfo as JSON), keyed by UserLookupKey: the same
	// layers give the same answer, so a create of a container of that
	// image need not mount its root to read /etc/passwd. The engine
	// writes it; the image package drops a layer's keys with the layer.
	BucketUserLookups = "user-lookups"
)

// UserLookupKey is the BucketUserLookups key of user spec in the root
// whose top layer has chain id chainID. The spec cannot hold a NUL byte
// (bundle refuses it), so the chain id's keys are those that start with
// UserLookupPrefix(chainID).
func UserLookupKey(chainID, spec string) []byte {
	return append(UserLookupPrefix(chainID), spec...)
}

// UserLookupPrefix is the start of every BucketUserLookups key of the
// layer with chain id chainID.
func UserLookupPrefix(chainID string) []byte {
	return append([]byte(chainID), 0)
}

// DeleteUserLookups removes the BucketUserLookups keys of the layer with
// chain id chainID (the image service, when it removes the layer).
func DeleteUserLookups(tx *bolt.Tx, chainID string) error {
	b := tx.Bucket([]byte(BucketUserLookups))
	if b == nil {
		return nil
	}
	prefix := UserLookupPrefix(chainID)
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// UserLookups returns the BucketUserLookups values of the layer with chain
// id chainID by user spec (copies, valid after tx); none when the bucket
// is missing.
func UserLookups(tx *bolt.Tx, chainID string) map[string][]byte {
	b := tx.Bucket([]byte(BucketUserLookups))
	if b == nil {
		return nil
	}
	prefix := UserLookupPrefix(chainID)
	var out map[string][]byte
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if out == nil {
			out = map[string][]byte{}
		}
		out[string(k[len(prefix):])] = bytes.Clone(v)
	}
	return out
}

// SchemaVersion is the schema this build of stockade writes.
var SchemaVersion = uint64(len(migrations))

// migrations[i] upgrades schema version i to i+1. Append only.
var migrations = []func(tx *bolt.Tx) error{
	// 0 -> 1: the initial buckets.
	func(tx *bolt.Tx) error {
		for _, b := range []string{BucketImages, BucketContainers} {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	},
	// 1 -> 2: networks and their address leases.
	func(tx *bolt.Tx) error {
		for _, b := range []string{BucketNetworks, BucketLeases} {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	},
	// 2 -> 3: named volumes.
	func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte(BucketVolumes))
		return err
	},
	// 3 -> 4: the container names index, filled from the records (their
	// "name" field).
	func(tx *bolt.Tx) error {
		names, err := tx.CreateBucketIfNotExists([]byte(BucketContainerNames))
		if err != nil {
			return err
		}
		return ForEachJSON(tx, BucketContainers, func(id string, c *struct {
			Name string `json:"name"`
		}) error {
			if c.Name == "" {
				return nil
			}
			return names.Put([]byte(c.Name), []byte(id))
		})
	},
	// 4 -> 5: the lease indexes, filled from the leases; no marks (a
	// network's first take searches from its subnet's start and sets
	// one).
	indexLeases,
	// 5 -> 6: the cache of user lookups, empty (the first create of each
	// image and user fills it).
	func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte(BucketUserLookups))
		return err
	},
}

// indexLeases fills the lease indexes from the leases as the network
// package writes them (Store.Take): the host ports they publish and each
// container's lease keys. A lease that does not decode is left out: its
// address stays taken, as the key is there.
func indexLeases(tx *bolt.Tx) error {
	for _, b := range []string{BucketLeaseMarks, BucketLeaseFree} {
		if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
			return err
		}
	}
	ports, err := tx.CreateBucketIfNotExists([]byte(BucketLeasePorts))
	if err != nil {
		return err
	}
	owners, err := tx.CreateBucketIfNotExists([]byte(BucketContainerLeases))
	if err != nil {
		return err
	}
	leases, err := tx.CreateBucketIfNotExists([]byte(BucketLeases))
	if err != nil {
		return err
	}
	type holder struct {
		HostIP        string `json:"hostIP,omitempty"`
		ContainerID   string `json:"containerID"`
		ContainerName string `json:"containerName"`
		Lease         string `json:"lease"`
	}
	held := map[string][]holder{}
	err = leases.ForEach(func(k, v []byte) error {
		var l struct {
			ContainerID   string `json:"containerID"`
			ContainerName string `json:"containerName"`
			Ports         []struct {
				HostIP   string `json:"hostIP"`
				HostPort uint16 `json:"hostPort"`
				Protocol string `json:"protocol"`
			} `json:"ports"`
		}
		if json.Unmarshal(v, &l) != nil || l.ContainerID == "" {
			return nil
		}
		if err := owners.Put([]byte(l.ContainerID+"/"+string(k)), nil); err != nil {
			return err
		}
		for _, p := range l.Ports {
			key := fmt.Sprintf("%s/%05d", p.Protocol, p.HostPort)
			held[key] = append(held[key], holder{p.HostIP, l.ContainerID, l.ContainerName, string(k)})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for k, hs := range held {
		data, err := json.Marshal(hs)
		if err != nil {
			return fmt.Errorf("encode %s/%s: %w", BucketLeasePorts, k, err)
		}
		if err := ports.Put([]byte(k), data); err != nil {
			return err
		}
	}
	return nil
}

// ErrNotFound is returned by GetJSON when the key does not exist.
var ErrNotFound = errors.New("not found")

// DB is a handle on the metadata file. It holds no open file between
// transactions and is safe for concurrent use.
type DB struct {
	path string
	// what names the file in errors ("metadata store").
	what string
	// LockTimeout bounds how long a transaction waits for another process
	// to release the file when ctx has no deadline of its own.
	LockTimeout time.Duration
}

// Open creates the store at path if needed and brings its schema up to date.
func Open(ctx context.Context, path string) (*DB, error) {
	return OpenFile(ctx, path, "metadata store", migrations)
}

// OpenFile opens a bbolt file with this package's discipline (opened per
// transaction, waiting for other processes) and its own append-only
// migrations, recorded as the "schema" key of a "meta" bucket. what names
// the file in errors. Other stores (the snapshot store) use it.
func OpenFile(ctx context.Context, path, what string, migrations []func(*bolt.Tx) error) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	db := &DB{path: path, what: what, LockTimeout: 2 * time.Minute}
	// A store whose schema is current is only read: a write transaction
	// costs two fdatasyncs even when it changes nothing, and every command
	// (and every container's monitor) opens the stores.
	if _, err := os.Stat(path); err == nil {
		if v, err := db.Schema(ctx); err == nil && v == uint64(len(migrations)) {
			return db, nil
		}
	}
	err := db.Update(ctx, func(tx *bolt.Tx) error {
		if err := migrate(tx, migrations); err != nil {
			return fmt.Errorf("%s %s: %w", what, path, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return db, nil
}

// Path returns the file's path.
func (db *DB) Path() string { return db.path }

func migrate(tx *bolt.Tx, migrations []func(*bolt.Tx) error) error {
	meta, err := tx.CreateBucketIfNotExists([]byte(BucketMeta))
	if err != nil {
		return err
	}
	want := uint64(len(migrations))
	var v uint64
	if b := meta.Get([]byte("schema")); len(b) == 8 {
		v = binary.BigEndian.Uint64(b)
	}
	if v > want {
		return fmt.Errorf("schema version %d is newer than this stockade's %d", v, want)
	}
	if v == want {
		return nil
	}
	for ; v < want; v++ {
		if err := migrations[v](tx); err != nil {
			return fmt.Errorf("migrate schema %d to %d: %w", v, v+1, err)
		}
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return meta.Put([]byte("schema"), b[:])
}

// Schema returns the schema version recorded in the file.
func (db *DB) Schema(ctx context.Context) (uint64, error) {
	var v uint64
	err := db.View(ctx, func(tx *bolt.Tx) error {
		if m := tx.Bucket([]byte(BucketMeta)); m != nil {
			if b := m.Get([]byte("schema")); len(b) == 8 {
				v = binary.BigEndian.Uint64(b)
			}
		}
		return nil
	})
	return v, err
}

// View runs fn in a read-only transaction.
func (db *DB) View(ctx context.Context, fn func(*bolt.Tx) error) error {
	return db.run(ctx, true, fn)
}

// Update runs fn in a read-write transaction. The transaction is committed
// when fn returns nil and rolled back otherwise.
func (db *DB) Update(ctx context.Context, fn func(*bolt.Tx) error) error {
	return db.run(ctx, false, fn)
}

func (db *DB) run(ctx context.Context, readOnly bool, fn func(*bolt.Tx) error) error {
	bdb, err := db.open(ctx, readOnly)
	if err != nil {
		return err
	}
	defer bdb.Close()
	// An error of fn is the caller's own (a record not found, a name in
	// use) and passes unchanged; only the store's own failures name the
	// file.
	var fnErr error
	wrapped := func(tx *bolt.Tx) error {
		fnErr = fn(tx)
		return fnErr
	}
	if readOnly {
		err = bdb.View(wrapped)
	} else {
		err = bdb.Update(wrapped)
	}
	if err != nil {
		if fnErr != nil && errors.Is(err, fnErr) {
			return fnErr
		}
		return fmt.Errorf("%s %s: %w", db.what, db.path, err)
	}
	return nil
}

// open opens the bbolt file, waiting while another process holds it.
// The wait is flock.Lock's, in the kernel, on the descriptor bbolt
// then uses (its own lock call finds the lock held and returns at once):
// bbolt's own wait polls every 50 ms, which a monitor opening its stores
// while the command line that started it commits paid in full.
func (db *DB) open(ctx context.Context, readOnly bool) (*bolt.DB, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s %s: %w", db.what, db.path, err)
	}
	mode := flock.Exclusive
	if readOnly {
		mode = flock.Shared
	}
	bdb, err := bolt.Open(db.path, 0o600, &bolt.Options{
		ReadOnly: readOnly,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			if err != nil {
				return nil, err
			}
			// Most transactions find the file free: no timer for them.
			if ok, err := flock.TryLock(f, mode); ok || err != nil {
				if err != nil {
					f.Close()
					return nil, err
				}
				return f, nil
			}
			lockCtx := ctx
			if _, ok := ctx.Deadline(); !ok {
				var cancel context.CancelFunc
				lockCtx, cancel = context.WithTimeout(ctx, db.LockTimeout)
				defer cancel()
			}
			if err := flock.Lock(lockCtx, f, mode); err != nil {
				return nil, err
			}
			return f, nil
		},
	})
	if err == nil {
		return bdb, nil
	}
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return nil, fmt.Errorf("%s %s: still locked by another process after %s", db.what, db.path, db.LockTimeout)
	}
	return nil, fmt.Errorf("%s %s: %w", db.what, db.path, err)
}

// PutJSON stores v as JSON under key in bucket, creating the bucket.
func PutJSON(tx *bolt.Tx, bucket, key string, v any) error {
	b, err := tx.CreateBucketIfNotExists([]byte(bucket))
	if err != nil {
		return err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s/%s: %w", bucket, key, err)
	}
	return b.Put([]byte(key), data)
}

// GetJSON decodes the JSON stored under key in bucket into v. It returns an
// error wrapping ErrNotFound when there is no such key.
func GetJSON(tx *bolt.Tx, bucket, key string, v any) error {
	b := tx.Bucket([]byte(bucket))
	if b == nil {
		return fmt.Errorf("%s/%s: %w", bucket, key, ErrNotFound)
	}
	data := b.Get([]byte(key))
	if data == nil {
		return fmt.Errorf("%s/%s: %w", bucket, key, ErrNotFound)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s/%s: %w", bucket, key, err)
	}
	return nil
}

// Delete removes key from bucket; a missing key or bucket is not an error.
func Delete(tx *bolt.Tx, bucket, key string) error {
	b := tx.Bucket([]byte(bucket))
	if b == nil {
		return nil
	}
	return b.Delete([]byte(key))
}

// ForEachJSON decodes every value of bucket into a fresh T and calls fn.
func ForEachJSON[T any](tx *bolt.Tx, bucket string, fn func(key string, v *T) error) error {
	b := tx.Bucket([]byte(bucket))
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, data []byte) error {
		v := new(T)
		if err := json.Unmarshal(data, v); err != nil {
			return fmt.Errorf("decode %s/%s: %w", bucket, k, err)
		}
		return fn(string(k), v)
	})
}
