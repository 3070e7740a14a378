package main

import (
	"runtime"

	"github.com/stockade/stockade/backend"
	"github.com/stockade/stockade/ociruntime"
)

// newRuntime returns the jail runtime (backend.Runtimes) with its state
// under --root.
func (r *rt) newRuntime() (ociruntime.Runtime, error) {
	be, ok := backend.Runtimes().Default(runtime.GOOS)
	if !ok {
		return nil, errNoRuntime
	}
	return be.Open(backend.RuntimeOptions{Dir: be.RuntimeRoot(r.root), Binary: r.runc, Log: r.log})
}
