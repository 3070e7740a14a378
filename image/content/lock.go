package content

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/stockade/stockade/internal/flock"
)

// ErrBusy is returned by LockExclusive when it was asked not to wait and
// another holder has the lock.
var ErrBusy = errors.New("content store is busy")

// lockFile opens (creating) path and locks it in mode, waiting until ctx is
// done; with wait false it fails at once with ErrBusy when another holder
// has a conflicting lock. The returned function unlocks and closes it;
// calling it again does nothing, so a caller may release early and defer
// it too.
func lockFile(ctx context.Context, path string, mode flock.Mode, wait bool) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if wait {
		// The file is this lock's alone: Lock waits in the kernel
		// and closes it on failure.
		if err := flock.Lock(ctx, f, mode); err != nil {
			return nil, err
		}
	} else if ok, terr := flock.TryLock(f, mode); terr != nil || !ok {
		f.Close()
		if terr != nil {
			return nil, terr
		}
		return nil, ErrBusy
	}
	return sync.OnceFunc(func() { f.Close() }), nil
}

// Lease takes the store's collection lock in shared mode: while any lease
// is held, in any process, GC does not run. A pull holds a lease from its
// first blob write until its image is listed in index.json, so that its
// blobs (and the layer snapshots made from them) are not collected under it.
// Call the returned function to release the lease.
func (s *Store) Lease(ctx context.Context) (func(), error) {
	return lockFile(ctx, s.lockPath("gc"), flock.Shared, true)
}

// LockExclusive takes the collection lock in exclusive mode: no lease is
// held by anyone while it is. With wait false it fails at once with ErrBusy
// when a lease is held; with wait true it waits until ctx is done. Callers
// that hold it may call Collect and clean up other stores (snapshots) that
// follow the same rule.
func (s *Store) LockExclusive(ctx context.Context, wait bool) (func(), error) {
	return lockFile(ctx, s.lockPath("gc"), flock.Exclusive, wait)
}
