//go:build !linux

package backend

import (
	"fmt"
	"runtime"

	"github.com/stockade/stockade/network"
)

// openLinuxNet fails: netlink and nftables exist only on Linux.
func openLinuxNet(NetworkOptions) (network.Driver, error) {
	return nil, fmt.Errorf("network driver linux: not available on %s", runtime.GOOS)
}
