//go:build !linux && !freebsd

package main

import (
	"errors"

	"github.com/stockade/stockade/ociruntime"
)

// errNoRuntime is what the container commands say on an operating system
// that has neither jails nor runc.
var errNoRuntime = errors.New("no container runtime on this operating system (jails on FreeBSD, runc on Linux)")

// newRuntime fails: there is no runtime here.
func (r *rt) newRuntime() (ociruntime.Runtime, error) {
	return nil, errNoRuntime
}
