//go:build !freebsd

package backend

import (
	"fmt"
	"runtime"

	"github.com/stockade/stockade/jail"
)

// jailKernel fails: jails exist only on FreeBSD.
func jailKernel() (jail.Kernel, error) {
	return nil, fmt.Errorf("runtime jail: FreeBSD jails are not available on %s (use runc)", runtime.GOOS)
}
