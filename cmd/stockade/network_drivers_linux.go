package main

import (
	"log/slog"

	"github.com/stockade/stockade/network"
	"github.com/stockade/stockade/network/linux"
)

// networkDrivers are Linux's: bridges, veths and network namespaces
// through netlink, rules through nftables.
func networkDrivers() []namedNetworkDriver {
	return []namedNetworkDriver{
		{"linux", func(dir string, _ *slog.Logger) (network.Driver, error) {
			d, err := linux.New(linux.Config{StateDir: dir})
			if err != nil {
				return nil, err
			}
			return d, nil
		}},
	}
}
