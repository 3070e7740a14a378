package main

import (
	"path/filepath"

	"github.com/stockade/stockade/linux/runc"
	"github.com/stockade/stockade/ociruntime"
)

// newRuntime returns the Linux runtime: runc (or --runc) with its state
// under <--root>/runc.
func (r *rt) newRuntime() (ociruntime.Runtime, error) {
	return runc.New(r.runc, filepath.Join(r.root, "runc"), r.log), nil
}
