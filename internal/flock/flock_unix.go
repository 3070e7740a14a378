//go:build linux || freebsd || darwin || netbsd || openbsd || dragonfly

package flock

import (
	"errors"
	"os"
	"syscall"
)

func how(mode Mode) int {
	if mode == Shared {
		return syscall.LOCK_SH
	}
	return syscall.LOCK_EX
}

// flock calls flock(2), again when a signal interrupts it.
func flock(f *os.File, op int) error {
	for {
		err := syscall.Flock(int(f.Fd()), op)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

func tryLock(f *os.File, mode Mode) (bool, error) {
	err := flock(f, how(mode)|syscall.LOCK_NB)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		return false, nil
	}
	return false, err
}

func lockWait(f *os.File, mode Mode) error { return flock(f, how(mode)) }

func unlock(f *os.File) error { return flock(f, syscall.LOCK_UN) }
