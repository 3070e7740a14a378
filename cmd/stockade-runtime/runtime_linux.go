package main

import (
	"github.com/stockade/stockade/linux/runc"
	"github.com/stockade/stockade/ociruntime"
)

// newRuntime returns runc (or --runc) with its state under <--root>/runc.
// It is made here, not through backend.Runtimes: that table links every
// snapshotter and the engine, whose package initialisation every command
// of this short-lived program would pay for.
func (r *rt) newRuntime() (ociruntime.Runtime, error) {
	return runc.New(r.runc, runcRoot(r.root), r.log), nil
}
