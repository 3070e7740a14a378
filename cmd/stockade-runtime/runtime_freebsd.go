package main

import (
	"os"

	"github.com/stockade/stockade/jail"
	"github.com/stockade/stockade/ociruntime"
)

// init turns this process into the jail runtime's init helper when it was
// re-executed as one (jail.InitCommand); jail.RunInit does not return.
func init() {
	if len(os.Args) == 2 && os.Args[1] == jail.InitCommand && os.Getenv(jail.InitEnv) != "" {
		jail.RunInit()
	}
}

// newRuntime returns the jail runtime with its state under --root.
func (r *rt) newRuntime() (ociruntime.Runtime, error) {
	return jail.New(r.root, jail.NewKernel(), r.log), nil
}
