package content

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// ErrBusy is returned by LockExclusive when it was asked not to wait and
// another holder has the lock.
var ErrBusy = errors.New("content store is busy")

// flock takes a flock(2) lock on f, polling so that ctx can cancel the
// wait. With wait false it fails with ErrBusy instead of waiting.
func flock(ctx context.Context, f *os.File, how int, wait bool) error {
	delay := 5 * time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		if !wait {
			return ErrBusy
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("lock %s: %w", f.Name(), ctx.Err())
		case <-t.C:
		}
		if delay < 100*time.Millisecond {
			delay *= 2
		}
	}
}

// lockFile opens (creating) path and locks it. The returned function
// unlocks and closes it.
func lockFile(ctx context.Context, path string, how int, wait bool) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := flock(ctx, f, how, wait); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// Lease takes the store's collection lock in shared mode: while any lease
// is held, in any process, GC does not run. A pull holds a lease from its
// first blob write until its image is listed in index.json, so that its
// blobs (and the layer snapshots made from them) are not collected under it.
// Call the returned function to release the lease.
func (s *Store) Lease(ctx context.Context) (func(), error) {
	return lockFile(ctx, s.lockPath("gc"), syscall.LOCK_SH, true)
}

// LockExclusive takes the collection lock in exclusive mode: no lease is
// held by anyone while it is. With wait false it fails at once with ErrBusy
// when a lease is held; with wait true it waits until ctx is done. Callers
// that hold it may call Collect and clean up other stores (snapshots) that
// follow the same rule.
func (s *Store) LockExclusive(ctx context.Context, wait bool) (func(), error) {
	return lockFile(ctx, s.lockPath("gc"), syscall.LOCK_EX, wait)
}
