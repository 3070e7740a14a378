//go:build !linux

package linux

import (
	"context"
	"errors"

	"github.com/stockade/stockade/network"
)

// Driver is the Linux network driver; on other systems every method
// fails.
type Driver struct{ cfg Config }

var errNotLinux = errors.New("the linux network driver runs only on Linux")

// New fails: the driver needs Linux.
func New(cfg Config) (*Driver, error) { return nil, errNotLinux }

// Preflight fails: the driver needs Linux.
func (d *Driver) Preflight(ctx context.Context, n *network.Network) error { return errNotLinux }

// EnsureNetwork fails: the driver needs Linux.
func (d *Driver) EnsureNetwork(ctx context.Context, n *network.Network) error { return errNotLinux }

// RemoveNetwork fails: the driver needs Linux.
func (d *Driver) RemoveNetwork(ctx context.Context, n *network.Network) error { return errNotLinux }

// Attach fails: the driver needs Linux.
func (d *Driver) Attach(ctx context.Context, n *network.Network, ep *network.Endpoint, sb network.Sandbox) error {
	return errNotLinux
}

// Detach fails: the driver needs Linux.
func (d *Driver) Detach(ctx context.Context, n *network.Network, ep *network.Endpoint, sb network.Sandbox) error {
	return errNotLinux
}

// Check fails: the driver needs Linux.
func (d *Driver) Check(ctx context.Context, nets []*network.Network, attached []*network.Endpoint, repair bool) ([]network.Problem, error) {
	return nil, errNotLinux
}
