package main

import (
	"errors"
	"runtime"

	"github.com/stockade/stockade/backend"
	"github.com/stockade/stockade/ociruntime"
)

// errNoRuntime is what the container commands say on an operating system
// that has neither jails nor runc.
var errNoRuntime = errors.New("no container runtime on this operating system (jails on FreeBSD, runc on Linux)")

// newRuntime returns this system's runtime (backend.Runtimes): the jail
// runtime with its state under --root on FreeBSD, runc (or --runc) with
// its state under <--root>/runc on Linux.
func (r *rt) newRuntime() (ociruntime.Runtime, error) {
	be, ok := backend.Runtimes().Default(runtime.GOOS)
	if !ok {
		return nil, errNoRuntime
	}
	return be.Open(backend.RuntimeOptions{Dir: be.RuntimeRoot(r.root), Binary: r.runc, Log: r.log})
}
