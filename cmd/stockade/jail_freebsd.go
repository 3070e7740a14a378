package main

import (
	"log/slog"
	"os"

	"github.com/stockade/stockade/jail"
	"github.com/stockade/stockade/ociruntime"
)

// init turns this process into the jail runtime's init helper when the
// jail runtime re-executed stockade as one; jail.RunInit does not return.
func init() {
	if len(os.Args) == 2 && os.Args[1] == jail.InitCommand && os.Getenv(jail.InitEnv) != "" {
		jail.RunInit()
	}
}

// jailRuntime returns the FreeBSD jail runtime with its state under dir.
func jailRuntime(dir string, log *slog.Logger) (ociruntime.Runtime, error) {
	return jail.New(dir, jail.NewKernel(), log), nil
}
