//go:build !freebsd

package main

import (
	"fmt"
	"log/slog"
	"runtime"

	"github.com/stockade/stockade/ociruntime"
)

// jailRuntime fails: jails exist only on FreeBSD.
func jailRuntime(string, *slog.Logger) (ociruntime.Runtime, error) {
	return nil, fmt.Errorf("runtime jail: FreeBSD jails are not available on %s (use runc)", runtime.GOOS)
}
