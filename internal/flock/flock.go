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
// Lock waits for a lock in the kernel, so it returns the moment the
// conflicting lock goes, and still ends with its context; the file is the
// lock's (it is closed on failure). TryLock never waits.
// Interrupted system calls (EINTR) are retried in every case. On systems
// without flock(2) every call fails with an error wrapping
// errors.ErrUnsupported.
package flock

import (
	"context"
	"fmt"
	"os"
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

// Lock takes a lock of the given mode on f, waiting while another open
// file holds a conflicting one, until ctx is done. The wait is in the
// kernel, so it ends the moment the conflicting lock is released (a
// polling wait notices late: bbolt's own sleeps 50 ms a try). f must be
// a file opened for the lock: on any error it is closed and must not be
// used again, since when ctx ends first the kernel's wait still holds f,
// and the file is closed when that wait ends, which releases the lock it
// then got. The error then wraps ctx.Err().
func Lock(ctx context.Context, f *os.File, mode Mode) error {
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
// and takes a lock of the given mode on it with Lock. Closing the
// returned file releases the lock.
func Acquire(ctx context.Context, path string, mode Mode) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := Lock(ctx, f, mode); err != nil {
		return nil, err
	}
	return f, nil
}
