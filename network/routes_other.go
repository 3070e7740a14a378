//go:build !linux && !freebsd

package network

import (
	"context"
	"net/netip"
)

// HostRoutes has no routing table to read on this OS.
type HostRoutes struct{}

// Routes returns nothing.
func (HostRoutes) Routes(context.Context) ([]netip.Prefix, error) { return nil, nil }
