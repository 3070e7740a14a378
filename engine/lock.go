package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// A container's monitor holds an exclusive flock on its lock file for as
// long as it lives; the kernel drops the lock when the process dies, even
// by SIGKILL, and a reboot empties the run-state directory. So "is the
// monitor alive" is answered by trying to take the lock, which no pid
// reuse can fool.

// monitorAlive reports whether some process holds the lock at path.
func monitorAlive(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		return errors.Is(err, unix.EWOULDBLOCK)
	}
	unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false
}

// acquireMonitorLock takes the lock at path for the life of the process.
// It waits briefly for probes by monitorAlive to let go, and fails when
// another monitor holds it.
func acquireMonitorLock(ctx context.Context, path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("monitor lock: %w", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) || ctx.Err() != nil {
			f.Close()
			return nil, fmt.Errorf("monitor lock %s: another monitor holds it", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
