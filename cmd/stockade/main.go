// Command stockade is the user command line of the Stockade container
// runtime: it pulls images, manages containers and runs them as FreeBSD
// jails (or with runc on Linux).
package main

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	if filepath.Base(os.Args[0]) == initName { // --init (init.go)
		os.Exit(runInit(os.Args[1:], os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runEarly(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr, startRunMonitor(ctx, os.Args))
	stop()
	os.Exit(code)
}
