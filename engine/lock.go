package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/stockade/stockade/internal/flock"
)

// A container's monitor holds an exclusive flock on its lock file for as
// long as it lives; the kernel drops the lock when the process dies, even
// by SIGKILL, and a reboot empties the run-state directory. So "is the
// monitor alive" is answered by trying to take the lock, which no pid
// reuse can fool.

// monitorLockWait bounds how long a new monitor waits for probes by
// monitorAlive, which hold a shared lock for an instant, to let go.
const monitorLockWait = 2 * time.Second

// monitorAlive reports whether some process holds the lock at path.
// A file that cannot be opened, or locked, has none: the monitor is gone.
func monitorAlive(path string) bool {
	held, err := flock.Held(path)
	return held && err == nil
}

// monitorFinishWait bounds how long remove waits for the monitor of a
// container whose exit is recorded to finish (drain the log, run the
// stop hooks, NRI's StopContainer) and let go of its lock.
const monitorFinishWait = 10 * time.Second

// waitMonitorGone waits, in the kernel, until no process holds the lock
// at path or timeout passes, and reports whether none does.
func waitMonitorGone(ctx context.Context, path string, timeout time.Duration) bool {
	f, err := os.Open(path)
	if err != nil {
		return true // no lock file: no monitor ever ran
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := flock.Lock(ctx, f, flock.Shared); err != nil {
		return false
	}
	f.Close()
	return true
}

// acquireMonitorLock takes the lock at path for the life of the process.
// It waits briefly for probes by monitorAlive to let go, and fails when
// another monitor holds it.
func acquireMonitorLock(ctx context.Context, path string) (*os.File, error) {
	ctx, cancel := context.WithTimeout(ctx, monitorLockWait)
	defer cancel()
	f, err := flock.Acquire(ctx, path, flock.Exclusive)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return nil, fmt.Errorf("monitor lock %s: another monitor holds it", path)
	}
	if err != nil {
		return nil, fmt.Errorf("monitor lock: %w", err)
	}
	return f, nil
}
