//go:build !linux

package runc

import (
	"errors"
	"os"
	"runtime"
)

// runcSupported fails: runc and crun run containers on Linux only.
func runcSupported() error {
	return errors.New("runc and crun run only on Linux, not on " + runtime.GOOS)
}

// memFile fails: runc and crun run only on Linux.
func memFile(string) (*os.File, error) { return nil, errors.ErrUnsupported }
