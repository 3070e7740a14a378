//go:build !linux && !freebsd

package main

import (
	"errors"

	"github.com/stockade/stockade/ociruntime"
)

// errNoJailRuntime is what the container commands say on FreeBSD until the
// jail runtime exists.
var errNoJailRuntime = errors.New("the jail runtime is not built yet")

// newRuntime fails: the jail runtime does not exist yet.
func (r *rt) newRuntime() (ociruntime.Runtime, error) {
	return nil, errNoJailRuntime
}
