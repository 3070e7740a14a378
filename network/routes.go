package network

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// RouteReader reads the destinations of the host's routes, so that the
// default network's subnet is chosen off them. HostRoutes is the host's.
type RouteReader interface {
	Routes(ctx context.Context) ([]netip.Prefix, error)
}

// RouteList is a fixed RouteReader (tests, or a host with no routing table
// to read).
type RouteList []netip.Prefix

// Routes returns the list.
func (l RouteList) Routes(context.Context) ([]netip.Prefix, error) { return l, nil }

// ParseProcRoute reads Linux's /proc/net/route: a header line, then one
// route a line, destination and mask as 8 hex digits in the kernel's
// (little-endian) byte order.
func ParseProcRoute(r io.Reader) ([]netip.Prefix, error) {
	var out []netip.Prefix
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		dst, err1 := strconv.ParseUint(f[1], 16, 32)
		mask, err2 := strconv.ParseUint(f[7], 16, 32)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("/proc/net/route: bad line %q", sc.Text())
		}
		var d, m [4]byte
		binary.LittleEndian.PutUint32(d[:], uint32(dst))
		binary.LittleEndian.PutUint32(m[:], uint32(mask))
		out = append(out, netip.PrefixFrom(netip.AddrFrom4(d), maskBits(m[:])).Masked())
	}
	return out, sc.Err()
}

// ParseProcIPv6Route reads Linux's /proc/net/ipv6_route: destination as 32
// hex digits, then its prefix length as 2 hex digits.
func ParseProcIPv6Route(r io.Reader) ([]netip.Prefix, error) {
	var out []netip.Prefix
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		raw, err := hex.DecodeString(f[0])
		bits, err2 := strconv.ParseUint(f[1], 16, 8)
		if err != nil || err2 != nil || len(raw) != 16 || bits > 128 {
			return nil, fmt.Errorf("/proc/net/ipv6_route: bad line %q", sc.Text())
		}
		out = append(out, netip.PrefixFrom(netip.AddrFrom16([16]byte(raw)), int(bits)).Masked())
	}
	return out, sc.Err()
}

// maskBits counts the leading one bits of a netmask.
func maskBits(m []byte) int {
	bits := 0
	for _, b := range m {
		for i := 7; i >= 0; i-- {
			if b&(1<<i) == 0 {
				return bits
			}
			bits++
		}
	}
	return bits
}
