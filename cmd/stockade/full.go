package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/stockade/stockade/internal/assemble"
)

// FullName is the program that holds what the lean build of stockade
// leaves out (the registry client, the layer pipeline, NRI, OCI-crypt,
// the image builder, the network name server), next to stockade.
const FullName = assemble.FullName

// errNeedsFull is returned by what the lean build leaves out: the command
// line then runs again, whole, as stockade-full (execFull).
var errNeedsFull = errors.New("this needs " + FullName)

// execFull replaces the process with stockade-full and the same command
// line. It returns only when that fails.
func (a *app) execFull() error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("%w: find the program: %v", errNeedsFull, err)
	}
	full := filepath.Join(filepath.Dir(self), FullName)
	args := append([]string{full}, a.args[1:]...)
	err = syscall.Exec(full, args, os.Environ())
	return fmt.Errorf("the registry client, the layer pipeline (commit, image import and export), NRI, OCI-crypt, build and the network name server are in %s, which could not be run: %w", full, err)
}
