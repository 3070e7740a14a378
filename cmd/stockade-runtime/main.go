// The Go runtime starts a goroutine at start-up to re-size GOMAXPROCS
// when the CPU affinity or cgroup quota changes: a short-lived command
// (most of them exec runc at once, see passthrough.go) does without it.
// (containermaxprocs=0 would not spare the cgroup reads at start: the
// runtime reads the quota once either way.)
//
//go:debug updatemaxprocs=0

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
