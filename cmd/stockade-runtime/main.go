// Command stockade-runtime is Stockade's OCI runtime. Its command line is a
// drop-in for runj (containerd's FreeBSD runtime) and also accepts runc's
// conventions, so containerd, podman and stockade itself can drive it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	execPassThrough(os.Args[1:]) // returns only when runc should not take over
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
