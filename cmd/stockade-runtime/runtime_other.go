//go:build !linux && !freebsd

package main

import "github.com/stockade/stockade/ociruntime"

// newRuntime: there is none on this system.
func (r *rt) newRuntime() (ociruntime.Runtime, error) { return nil, errNoRuntime }
