//go:build !linux

package runc

import (
	"errors"
	"runtime"
)

// runcSupported fails: runc and crun run containers on Linux only.
func runcSupported() error {
	return errors.New("runc and crun run only on Linux, not on " + runtime.GOOS)
}
