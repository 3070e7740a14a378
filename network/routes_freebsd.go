package network

import (
	"context"
	"fmt"
	"net/netip"
	"syscall"

	"golang.org/x/net/route"
)

// HostRoutes reads the host's routing table through a routing socket
// (sysctl NET_RT_DUMP).
type HostRoutes struct{}

// Routes returns the destinations of the host's IPv4 and IPv6 routes.
func (HostRoutes) Routes(context.Context) ([]netip.Prefix, error) {
	rib, err := route.FetchRIB(syscall.AF_UNSPEC, route.RIBTypeRoute, 0)
	if err != nil {
		return nil, fmt.Errorf("read routing table: %w", err)
	}
	msgs, err := route.ParseRIB(route.RIBTypeRoute, rib)
	if err != nil {
		return nil, fmt.Errorf("read routing table: %w", err)
	}
	var out []netip.Prefix
	for _, m := range msgs {
		rm, ok := m.(*route.RouteMessage)
		if !ok || len(rm.Addrs) <= syscall.RTAX_DST {
			continue
		}
		var mask route.Addr
		if len(rm.Addrs) > syscall.RTAX_NETMASK {
			mask = rm.Addrs[syscall.RTAX_NETMASK]
		}
		if p, ok := routePrefix(rm.Addrs[syscall.RTAX_DST], mask); ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// routePrefix turns a route's destination and netmask into a prefix; a
// host route has no netmask.
func routePrefix(dst, mask route.Addr) (netip.Prefix, bool) {
	switch d := dst.(type) {
	case *route.Inet4Addr:
		bits := 32
		if m, ok := mask.(*route.Inet4Addr); ok {
			bits = maskBits(m.IP[:])
		}
		return netip.PrefixFrom(netip.AddrFrom4(d.IP), bits).Masked(), true
	case *route.Inet6Addr:
		bits := 128
		if m, ok := mask.(*route.Inet6Addr); ok {
			bits = maskBits(m.IP[:])
		}
		return netip.PrefixFrom(netip.AddrFrom16(d.IP), bits).Masked(), true
	}
	return netip.Prefix{}, false
}
