package main

import (
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"

	"github.com/stockade/stockade/network"
)

// networkDriverFactory opens a network driver whose state lives in dir.
type networkDriverFactory func(dir string, log *slog.Logger) (network.Driver, error)

// openNetworkDriver opens the OS's network driver: name picks one of the
// OS's table (networkDrivers, in the OS's file), empty the first. A nil
// driver with no error means the OS has none: only --network host and
// none work there.
func openNetworkDriver(name, dir string, log *slog.Logger) (network.Driver, error) {
	table := networkDrivers()
	if len(table) == 0 {
		return nil, nil
	}
	if name == "" {
		name = table[0].name
	}
	i := slices.IndexFunc(table, func(d namedNetworkDriver) bool { return d.name == name })
	if i < 0 {
		var names []string
		for _, d := range table {
			names = append(names, d.name)
		}
		return nil, fmt.Errorf("network driver %q is not one of %s on %s", name, strings.Join(names, ", "), runtime.GOOS)
	}
	return table[i].open(dir, log)
}

// namedNetworkDriver is one row of an OS's table of network drivers.
type namedNetworkDriver struct {
	name string
	open networkDriverFactory
}
