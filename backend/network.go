package backend

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/stockade/stockade/network"
)

// NetworkOptions are what opening a network driver takes.
type NetworkOptions struct {
	// Dir is the driver's state directory (network namespaces, locks).
	Dir string
	// Log receives the driver's messages.
	Log *slog.Logger
}

// NetworkDriver is one row of the network driver table.
type NetworkDriver struct {
	// Name is the driver's name.
	Name string
	// OS lists the systems it runs on; none means every system.
	OS []string
	// Open returns the driver.
	Open func(opts NetworkOptions) (network.Driver, error)
}

// NetworkDriverTable is the table of network drivers; the first row
// available on a system is that system's driver.
type NetworkDriverTable []NetworkDriver

// NetworkDrivers returns the network driver table: bridges, veths and
// network namespaces through netlink with rules in nftables on Linux;
// if_bridge, epairs into vnet jails and pf anchors through ifconfig(8) and
// pfctl(8) on FreeBSD.
func NetworkDrivers() NetworkDriverTable {
	return NetworkDriverTable{
		// Each system links only its own driver (network_OS.go).
		{Name: "linux", OS: []string{"linux"}, Open: openLinuxNet},
		{Name: "freebsd", OS: []string{"freebsd"}, Open: openFreeBSDNet},
	}
}

// Open opens the driver name on goos; an empty name is goos's driver. A
// nil driver with no error means goos has none: only --network host and
// none work there.
func (t NetworkDriverTable) Open(name, goos string, opts NetworkOptions) (network.Driver, error) {
	if name == "" {
		for _, d := range t {
			if availableOn(d.OS, goos) {
				return d.Open(opts)
			}
		}
		return nil, nil
	}
	i := slices.IndexFunc(t, func(d NetworkDriver) bool { return d.Name == name })
	if i < 0 || !availableOn(t[i].OS, goos) {
		var here []string
		for _, d := range t {
			if availableOn(d.OS, goos) {
				here = append(here, d.Name)
			}
		}
		return nil, fmt.Errorf("network driver %q is not available on %s (available: %v)", name, goos, here)
	}
	return t[i].Open(opts)
}
