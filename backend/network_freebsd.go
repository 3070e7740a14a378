package backend

import (
	"github.com/stockade/stockade/network"
	"github.com/stockade/stockade/network/freebsd"
)

// openFreeBSDNet opens the FreeBSD driver, which runs ifconfig(8),
// route(8), pfctl(8) and sysctl(8).
func openFreeBSDNet(opts NetworkOptions) (network.Driver, error) {
	return freebsd.New(freebsd.NewHost(), opts.Log), nil
}
