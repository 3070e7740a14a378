//go:build !freebsd

package backend

import (
	"fmt"
	"runtime"

	"github.com/stockade/stockade/ociruntime"
)

// openJail fails: jails exist only on FreeBSD. The jail runtime's package
// is not linked here, so that no program of another system carries it
// (nor pays its initialisation at every start).
func openJail(RuntimeOptions) (ociruntime.Runtime, error) {
	return nil, fmt.Errorf("runtime jail: FreeBSD jails are not available on %s (use runc)", runtime.GOOS)
}
