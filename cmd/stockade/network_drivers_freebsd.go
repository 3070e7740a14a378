package main

import (
	"log/slog"

	"github.com/stockade/stockade/network"
	"github.com/stockade/stockade/network/freebsd"
)

// networkDrivers are FreeBSD's: if_bridge, epair and vnet jails, pf
// anchors, through ifconfig(8) and pfctl(8).
func networkDrivers() []namedNetworkDriver {
	return []namedNetworkDriver{
		{"freebsd", func(_ string, log *slog.Logger) (network.Driver, error) {
			return freebsd.New(freebsd.NewHost(), log), nil
		}},
	}
}
