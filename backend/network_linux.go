package backend

import (
	"github.com/stockade/stockade/network"
	"github.com/stockade/stockade/network/linux"
)

// openLinuxNet opens the Linux driver: bridges, veths and network
// namespaces through netlink, rules in nftables.
func openLinuxNet(opts NetworkOptions) (network.Driver, error) {
	return linux.New(linux.Config{StateDir: opts.Dir})
}
