//go:build !freebsd

package backend

import (
	"fmt"
	"runtime"

	"github.com/stockade/stockade/network"
)

// openFreeBSDNet fails: the FreeBSD driver's tools exist only there.
func openFreeBSDNet(NetworkOptions) (network.Driver, error) {
	return nil, fmt.Errorf("network driver freebsd: not available on %s", runtime.GOOS)
}
