//go:build !(linux || freebsd || darwin || netbsd || openbsd || dragonfly)

package flock

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

func unsupported() error {
	return fmt.Errorf("file locks are not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

func tryLock(f *os.File, mode Mode) (bool, error) { return false, unsupported() }

func lockWait(f *os.File, mode Mode) error { return unsupported() }

func unlock(f *os.File) error { return unsupported() }
