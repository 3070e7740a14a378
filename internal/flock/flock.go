// Package flock takes flock(2) locks, the advisory whole-file locks that
// stockade's processes use to order their work on shared files: the
// content store's collection and index locks, a monitor's liveness lock,
// the jail runtime's per-container lock, the snapshotters' locks on staged
// directories and on mounts.
//
// A flock lock belongs to an open file (an open file description): two
// os.File values opened separately conflict even in one process, and the
// kernel drops the lock when the last descriptor of the file is closed,
// including when its process dies. That is what makes a lock a liveness
// signal, which no pid reuse can fool.
//
// Lock waits for a lock under a context: with a context that can be
// cancelled it polls with a growing back-off (1 ms to 100 ms) so that the
// wait ends when the context does; with one that cannot (such as
// context.Background) it waits in the kernel. LockOwned, for a file the
// caller opened for the lock alone (Acquire, the stores' bbolt files),
// always waits in the kernel, so it returns the moment the other lock
// goes, and still ends with its context. TryLock never waits.
// Interrupted system calls (EINTR) are retried in every case. On systems
// without flock(2) every call fails with an error wrapping
// errors.ErrUnsupported.
package flock

import (
	"context"
	"fmt"
	"os"
	"time"
)

// Mode is the kind of lock to take.
type Mode int

// The lock modes.
const (
	// Exclusive conflicts with every other lock on the file.
	Exclusive Mode = iota
	// Shared conflicts only with an Exclusive lock: any number of shared
	// locks can be held at once.
	Shared
)

// String returns "exclusive" or "shared".
func (m Mode) String() string {
	switch m {
	case Exclusive:
		return "exclusive"
	case Shared:
		return "shared"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// The back-off of a cancellable wait.
const (
	minDelay = time.Millisecond
	maxDelay = 100 * time.Millisecond
)

// TryLock takes a lock of the given mode on f without waiting. It reports
// false, with no error, when another open file holds a conflicting lock.
// Taking a lock on a file that already holds one converts it to mode.
func TryLock(f *os.File, mode Mode) (bool, error) {
	ok, err := tryLock(f, mode)
	if err != nil {
		return false, &os.PathError{Op: "flock " + mode.String(), Path: f.Name(), Err: err}
	}
	return ok, nil
}

// Lock takes a lock of the given mode on f, waiting while another open file
// holds a conflicting one, until ctx is done. Its error then wraps
// ctx.Err().
func Lock(ctx context.Context, f *os.File, mode Mode) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	if ctx.Done() == nil {
		if err := lockWait(f, mode); err != nil {
			return &os.PathError{Op: "flock " + mode.String(), Path: f.Name(), Err: err}
		}
		return nil
	}
	var t *time.Timer
	for delay := minDelay; ; delay = min(2*delay, maxDelay) {
		ok, err := TryLock(f, mode)
		if ok || err != nil {
			return err
		}
		if t == nil {
			t = time.NewTimer(delay)
			defer t.Stop()
		} else {
			t.Reset(delay)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lock %s: %w", f.Name(), ctx.Err())
		case <-t.C:
		}
	}
}

// LockOwned takes a lock of the given mode on f as Lock does, for a file
// that exists for this lock alone: the wait is in the kernel, so it ends
// the moment the conflicting lock is released (Lock's cancellable wait
// polls, and may notice up to 100 ms late). On any error f is closed and
// must not be used again: when ctx ends first, the kernel's wait still
// holds f, and the file is closed when that wait ends, which releases the
// lock it then got. Its error then wraps ctx.Err().
func LockOwned(ctx context.Context, f *os.File, mode Mode) error {
	fail := func(err error) error {
		f.Close()
		return err
	}
	if err := ctx.Err(); err != nil {
		return fail(fmt.Errorf("lock %s: %w", f.Name(), err))
	}
	if ok, err := TryLock(f, mode); ok || err != nil {
		if err != nil {
			return fail(err)
		}
		return nil
	}
	wait := func() error {
		if err := lockWait(f, mode); err != nil {
			return &os.PathError{Op: "flock " + mode.String(), Path: f.Name(), Err: err}
		}
		return nil
	}
	if ctx.Done() == nil {
		if err := wait(); err != nil {
			return fail(err)
		}
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fail(err)
		}
		return nil
	case <-ctx.Done():
		name := f.Name()
		go func() {
			<-done
			f.Close()
		}()
		return fmt.Errorf("lock %s: %w", name, ctx.Err())
	}
}

// Unlock releases f's lock. Closing f releases it too, when f is the last
// descriptor of its open file.
func Unlock(f *os.File) error {
	if err := unlock(f); err != nil {
		return &os.PathError{Op: "funlock", Path: f.Name(), Err: err}
	}
	return nil
}

// Acquire opens path read-write, creating it with mode 0600 if needed,
// and takes a lock of the given mode on it with LockOwned. Closing the
// returned file releases the lock.
func Acquire(ctx context.Context, path string, mode Mode) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := LockOwned(ctx, f, mode); err != nil {
		return nil, err
	}
	return f, nil
}
