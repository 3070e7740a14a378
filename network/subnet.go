package network

import (
	"fmt"
	"net/netip"
	"sync"
)

// defaultCandidates are the IPv4 subnets the default network tries, in
// order, the first that no host route and no other network touches. Made
// on first use: every stockade command links this package.
var defaultCandidates = sync.OnceValue(func() []netip.Prefix {
	var out []netip.Prefix
	for i := 88; i < 100; i++ {
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16))
	}
	for i := 30; i >= 17; i-- {
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(i), 0, 0}), 16))
	}
	return out
})

// userCandidates are the subnets of networks created without --subnet:
// 10.89.0.0/24 to 10.89.255.0/24, then 10.90.0.0/24 and on, up to 10.99.
var userCandidates = sync.OnceValue(func() []netip.Prefix {
	out := make([]netip.Prefix, 0, 11*256)
	for b := 89; b < 100; b++ {
		for c := 0; c < 256; c++ {
			out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(b), byte(c), 0}), 24))
		}
	}
	return out
})

// ChooseSubnet returns the first candidate that overlaps none of routes
// (the host's routing table; default routes are ignored, they overlap
// everything) and none of taken (the subnets of existing networks).
func ChooseSubnet(candidates, routes, taken []netip.Prefix) (netip.Prefix, error) {
	for _, c := range candidates {
		if !overlapsAny(c, routes, true) && !overlapsAny(c, taken, false) {
			return c, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free IPv4 subnet among %d candidates (every one overlaps a host route or a network); give one with --subnet", len(candidates))
}

// DefaultSubnetCandidates is the candidate list of the default network.
func DefaultSubnetCandidates() []netip.Prefix { return defaultCandidates() }

// UserSubnetCandidates is the candidate list of `network create` without
// --subnet.
func UserSubnetCandidates() []netip.Prefix { return userCandidates() }

func overlapsAny(p netip.Prefix, list []netip.Prefix, skipDefault bool) bool {
	for _, q := range list {
		if skipDefault && q.Bits() == 0 {
			continue
		}
		if q.IsValid() && p.Overlaps(q) {
			return true
		}
	}
	return false
}

// ParseSubnet parses a network's subnet: a CIDR with no host bits, of the
// family asked for, with room for a gateway and at least one container.
func ParseSubnet(s string, v6 bool) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("subnet %q: not a CIDR (want for example 10.89.0.0/24)", s)
	}
	return p, checkSubnet(p, v6)
}

func checkSubnet(p netip.Prefix, v6 bool) error {
	if p.Addr().Zone() != "" {
		return fmt.Errorf("subnet %s: has a zone", p)
	}
	if v6 != p.Addr().Is6() || p.Addr().Is4In6() {
		if v6 {
			return fmt.Errorf("subnet %s: not an IPv6 subnet", p)
		}
		return fmt.Errorf("subnet %s: not an IPv4 subnet", p)
	}
	if p != p.Masked() {
		return fmt.Errorf("subnet %s: host bits set (want %s)", p, p.Masked())
	}
	if !v6 && (p.Bits() < 8 || p.Bits() > 30) {
		return fmt.Errorf("subnet %s: prefix length must be between 8 and 30", p)
	}
	if v6 && (p.Bits() < 48 || p.Bits() > 124) {
		return fmt.Errorf("subnet %s: prefix length must be between 48 and 124", p)
	}
	if p.Addr().IsLoopback() || p.Addr().IsMulticast() || p.Addr().IsLinkLocalUnicast() || p.Addr().IsUnspecified() {
		return fmt.Errorf("subnet %s: not a unicast range containers can use", p)
	}
	return nil
}

// lastAddr returns the highest address of p (the broadcast address of an
// IPv4 subnet).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// usable reports whether a is a host address of p: inside it and, for
// IPv4, neither the network nor the broadcast address.
func usable(p netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() || !p.Contains(a) {
		return false
	}
	if a == p.Masked().Addr() {
		return false
	}
	if a.Is4() && a == lastAddr(p) {
		return false
	}
	return true
}

// checkGateway validates a gateway given for p, or picks the first host
// address when gw is invalid.
func checkGateway(p netip.Prefix, gw netip.Addr) (netip.Addr, error) {
	if !gw.IsValid() {
		return p.Masked().Addr().Next(), nil
	}
	if !usable(p, gw) {
		return netip.Addr{}, fmt.Errorf("gateway %s: not a host address of subnet %s", gw, p)
	}
	return gw, nil
}
