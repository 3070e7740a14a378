package network

import (
	"context"
	"errors"
	"net/netip"
	"os"
)

// HostRoutes reads the host's routing table from /proc/net/route and
// /proc/net/ipv6_route.
type HostRoutes struct{}

// Routes returns the destinations of the host's IPv4 and IPv6 routes.
func (HostRoutes) Routes(context.Context) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range []struct {
		path  string
		parse func(r *os.File) ([]netip.Prefix, error)
	}{
		{"/proc/net/route", func(r *os.File) ([]netip.Prefix, error) { return ParseProcRoute(r) }},
		{"/proc/net/ipv6_route", func(r *os.File) ([]netip.Prefix, error) { return ParseProcIPv6Route(r) }},
	} {
		fh, err := os.Open(f.path)
		if errors.Is(err, os.ErrNotExist) {
			continue // no IPv6 in this kernel
		}
		if err != nil {
			return nil, err
		}
		ps, err := f.parse(fh)
		fh.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	return out, nil
}
