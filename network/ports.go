package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// PortSpec is one -p (or one exposed port of -P) before host ports are
// chosen: a host port range of 0-0 means any free port.
type PortSpec struct {
	// Raw is the spec as typed, for errors.
	Raw string
	// HostIP is the address to bind; invalid means every address.
	HostIP             netip.Addr
	HostStart, HostEnd uint16
	CStart, CEnd       uint16
	Protocol           string
}

// ParsePortSpec parses -p [IP:][HOSTPORT:]CPORT[/tcp|udp] as docker does:
// ports may be ranges (8000-8009:80-89, or a host range for one container
// port, from which one free port is taken), an empty HOSTPORT (IP::80)
// means any free port, an IPv6 IP is written in brackets ([::1]:8080:80).
func ParsePortSpec(s string) (PortSpec, error) {
	sp := PortSpec{Raw: s, Protocol: "tcp"}
	bad := func(format string, a ...any) (PortSpec, error) {
		return PortSpec{}, fmt.Errorf("-p %q: %s", s, fmt.Sprintf(format, a...))
	}
	rest := s
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		proto := rest[i+1:]
		sp.Protocol = strings.ToLower(proto)
		rest = rest[:i]
		if sp.Protocol != "tcp" && sp.Protocol != "udp" {
			return bad("protocol %q: want tcp or udp", proto)
		}
	}
	var ip string
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]:")
		if end < 0 {
			return bad("an IPv6 address in brackets must be followed by :HOSTPORT:CPORT")
		}
		ip, rest = rest[1:end], rest[end+2:]
		parts := strings.Split(rest, ":")
		if len(parts) != 2 {
			return bad("want [IP]:HOSTPORT:CPORT")
		}
		rest = parts[0] + ":" + parts[1]
		if a, err := netip.ParseAddr(ip); err != nil || !a.Is6() {
			return bad("host address %q: not an IPv6 address", ip)
		}
	}
	parts := strings.Split(rest, ":")
	var host, cport string
	switch len(parts) {
	case 1:
		cport = parts[0]
	case 2:
		host, cport = parts[0], parts[1]
	case 3:
		if ip != "" {
			return bad("too many ':'")
		}
		ip, host, cport = parts[0], parts[1], parts[2]
		if ip == "" {
			return bad("empty host address")
		}
	default:
		return bad("too many ':' (an IPv6 host address goes in brackets: [::1]:8080:80)")
	}
	if ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil || a.Zone() != "" {
			return bad("host address %q: not an IP address", ip)
		}
		sp.HostIP = a.Unmap()
		if a.IsUnspecified() {
			sp.HostIP = netip.Addr{}
		}
	}
	var err error
	if sp.CStart, sp.CEnd, err = parseRange(cport); err != nil {
		return bad("container port %s", err)
	}
	if host != "" {
		if sp.HostStart, sp.HostEnd, err = parseRange(host); err != nil {
			return bad("host port %s", err)
		}
		hn, cn := sp.HostEnd-sp.HostStart, sp.CEnd-sp.CStart
		if cn > 0 && hn != cn {
			return bad("host range %s and container range %s differ in length", host, cport)
		}
	}
	return sp, nil
}

func parseRange(s string) (uint16, uint16, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := parsePort(lo)
	if err != nil {
		return 0, 0, err
	}
	b := a
	if isRange {
		if b, err = parsePort(hi); err != nil {
			return 0, 0, err
		}
		if b < a {
			return 0, 0, fmt.Errorf("%q: range ends before it starts", s)
		}
	}
	return a, b, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q: not a port number (1-65535)", s)
	}
	return uint16(n), nil
}

// ExposedSpecs turns an image's ExposedPorts keys ("80/tcp", "53/udp",
// "8000-8001/tcp") into specs on any free host port (-P).
func ExposedSpecs(exposed []string) ([]PortSpec, error) {
	var out []PortSpec
	for _, e := range exposed {
		sp, err := ParsePortSpec(e)
		if err != nil {
			return nil, fmt.Errorf("image exposes %q: not a port", e)
		}
		if sp.HostStart != 0 || sp.HostIP.IsValid() {
			return nil, fmt.Errorf("image exposes %q: not a port", e)
		}
		out = append(out, sp)
	}
	return out, nil
}

// Conflicts reports whether two mappings claim the same host port: same
// protocol and port, and the same host address or either on every
// address.
func Conflicts(a, b PortMapping) bool {
	if a.Protocol != b.Protocol || a.HostPort != b.HostPort {
		return false
	}
	return !a.HostIP.IsValid() || !b.HostIP.IsValid() || a.HostIP == b.HostIP
}

// PortProbe tells whether a host port can be bound now, and finds free
// ports. BindProbe is the host's.
type PortProbe interface {
	// Free returns an error naming the port when it cannot be bound.
	Free(m PortMapping) error
	// Pick returns a port the kernel considers free for proto on ip.
	Pick(proto string, ip netip.Addr) (uint16, error)
}

// BindProbe probes ports by binding them.
type BindProbe struct{}

func hostPort(ip netip.Addr, port uint16) string {
	h := ""
	if ip.IsValid() {
		h = ip.String()
	}
	return net.JoinHostPort(h, strconv.Itoa(int(port)))
}

// portName is a host port as errors and listings show it: 0.0.0.0:8080
// for every address.
func portName(ip netip.Addr, port uint16) string {
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified()
	}
	return hostPort(ip, port)
}

// Free binds m's host port and closes it again.
func (BindProbe) Free(m PortMapping) error {
	addr := hostPort(m.HostIP, m.HostPort)
	var err error
	if m.Protocol == "udp" {
		var c net.PacketConn
		if c, err = net.ListenPacket("udp", addr); err == nil {
			c.Close()
		}
	} else {
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			l.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("host port %s/%s is not free: %w", portName(m.HostIP, m.HostPort), m.Protocol, errors.Unwrap(err))
	}
	return nil
}

// Pick binds port 0 and returns the port the kernel gave.
func (BindProbe) Pick(proto string, ip netip.Addr) (uint16, error) {
	addr := hostPort(ip, 0)
	if proto == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return 0, fmt.Errorf("find a free udp port: %w", err)
		}
		defer c.Close()
		return uint16(c.LocalAddr().(*net.UDPAddr).Port), nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return 0, fmt.Errorf("find a free tcp port: %w", err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port), nil
}

// PortHolders tells who publishes a host port already. The store's
// answers from its index of published ports, reading only the port asked
// about.
type PortHolders interface {
	// Holder returns the name of a container that publishes a host port
	// that conflicts with m (see Conflicts), or "" when none does.
	Holder(m PortMapping) (string, error)
}

// AssignPorts turns specs into mappings: it checks every given host port
// against held (other containers' mappings; nil for none) and the probe,
// and picks free ports for the others. The error names the spec, the
// port and, for a port another container publishes, that container.
func AssignPorts(specs []PortSpec, held PortHolders, probe PortProbe) ([]PortMapping, error) {
	var out []PortMapping
	// holder names who publishes m's host port already, "" for nobody.
	holder := func(m PortMapping) (string, error) {
		if held != nil {
			c, err := held.Holder(m)
			if err != nil {
				return "", err
			}
			if c != "" {
				return "container " + c, nil
			}
		}
		if slices.ContainsFunc(out, func(t PortMapping) bool { return Conflicts(t, m) }) {
			return "this container", nil
		}
		return "", nil
	}
	for _, sp := range specs {
		for cp := int(sp.CStart); cp <= int(sp.CEnd); cp++ {
			m := PortMapping{HostIP: sp.HostIP, ContainerPort: uint16(cp), Protocol: sp.Protocol}
			switch {
			case sp.HostStart == 0: // any free port
				for range 20 {
					var err error
					if m.HostPort, err = probe.Pick(sp.Protocol, sp.HostIP); err != nil {
						return nil, fmt.Errorf("-p %q: %w", sp.Raw, err)
					}
					by, err := holder(m)
					if err != nil {
						return nil, fmt.Errorf("-p %q: %w", sp.Raw, err)
					}
					if by == "" {
						break
					}
					m.HostPort = 0
				}
				if m.HostPort == 0 {
					return nil, fmt.Errorf("-p %q: no free host port found", sp.Raw)
				}
			case sp.CStart == sp.CEnd && sp.HostEnd > sp.HostStart: // one free port of a range
				found := false
				for hp := int(sp.HostStart); hp <= int(sp.HostEnd) && !found; hp++ {
					m.HostPort = uint16(hp)
					by, err := holder(m)
					if err != nil {
						return nil, fmt.Errorf("-p %q: %w", sp.Raw, err)
					}
					found = by == "" && probe.Free(m) == nil
				}
				if !found {
					return nil, fmt.Errorf("-p %q: no free host port in %d-%d", sp.Raw, sp.HostStart, sp.HostEnd)
				}
			default:
				m.HostPort = sp.HostStart + uint16(cp-int(sp.CStart))
				by, err := holder(m)
				if err != nil {
					return nil, fmt.Errorf("-p %q: %w", sp.Raw, err)
				}
				if by != "" {
					return nil, fmt.Errorf("-p %q: host port %s/%s is already published by %s", sp.Raw, portName(m.HostIP, m.HostPort), m.Protocol, by)
				}
				if err := probe.Free(m); err != nil {
					return nil, fmt.Errorf("-p %q: %w", sp.Raw, err)
				}
			}
			out = append(out, m)
		}
	}
	return out, nil
}

// FormatPort writes a mapping as `port` and `ps` show it:
// 127.0.0.1:8080->80/tcp, or 0.0.0.0:8080->80/tcp for every address.
func FormatPort(m PortMapping) string {
	return fmt.Sprintf("%s->%d/%s", portName(m.HostIP, m.HostPort), m.ContainerPort, m.Protocol)
}
