package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// execPassThrough replaces this process with runc when args (without the
// program name) are a pass-through command (see passThrough) of a
// container that exists. It returns only when it did not: then the full
// command line runs the command, with stockade-runtime's own errors (the
// container does not exist, a bad flag, a runtime that is missing).
func execPassThrough(args []string) {
	g, id, argv, ok := passThrough(args, syscall.Getenv)
	if !ok {
		return
	}
	// A container runc has no state for is the error path: leave it to the
	// runtime, which says so in stockade-runtime's words (and lets a forced
	// delete succeed).
	if _, err := os.Stat(filepath.Join(runcRoot(g.root), id)); err != nil {
		return
	}
	// An absolute --runc needs no search (a missing one fails the exec,
	// and the full command line reports it).
	path := g.runc
	if !filepath.IsAbs(path) {
		var err error
		if path, err = exec.LookPath(path); err != nil {
			return
		}
	}
	syscall.Exec(path, append([]string{filepath.Base(path)}, argv...), syscall.Environ())
}
