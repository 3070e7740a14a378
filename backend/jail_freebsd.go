package backend

import (
	"os"

	"github.com/stockade/stockade/jail"
	"github.com/stockade/stockade/ociruntime"
)

// init turns this process into the jail runtime's init helper when the
// jail runtime re-executed the binary as one (jail.InitCommand);
// jail.RunInit does not return. Every binary that can open the jail
// runtime imports this package, so each of them can be re-executed so.
func init() {
	if len(os.Args) == 2 && os.Args[1] == jail.InitCommand && os.Getenv(jail.InitEnv) != "" {
		jail.RunInit()
	}
}

// openJail opens the jail runtime over the FreeBSD kernel's jail
// interface.
func openJail(opts RuntimeOptions) (ociruntime.Runtime, error) {
	return jail.New(opts.Dir, jail.NewKernel(), opts.Log), nil
}
