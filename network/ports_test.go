package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParsePortSpec(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		in   string
		want PortSpec
	}{
		{"80", PortSpec{CStart: 80, CEnd: 80, Protocol: "tcp"}},
		{"8080:80", PortSpec{HostStart: 8080, HostEnd: 8080, CStart: 80, CEnd: 80, Protocol: "tcp"}},
		{"127.0.0.1:8080:80", PortSpec{HostIP: a("127.0.0.1"), HostStart: 8080, HostEnd: 8080, CStart: 80, CEnd: 80, Protocol: "tcp"}},
		{"127.0.0.1::80/udp", PortSpec{HostIP: a("127.0.0.1"), CStart: 80, CEnd: 80, Protocol: "udp"}},
		{"0.0.0.0:8080:80", PortSpec{HostStart: 8080, HostEnd: 8080, CStart: 80, CEnd: 80, Protocol: "tcp"}},
		{"[::1]:8080:80/tcp", PortSpec{HostIP: a("::1"), HostStart: 8080, HostEnd: 8080, CStart: 80, CEnd: 80, Protocol: "tcp"}},
		{"[::1]::80", PortSpec{HostIP: a("::1"), CStart: 80, CEnd: 80, Protocol: "tcp"}},
		{"8000-8002:80-82", PortSpec{HostStart: 8000, HostEnd: 8002, CStart: 80, CEnd: 82, Protocol: "tcp"}},
		{"8000-8009:80", PortSpec{HostStart: 8000, HostEnd: 8009, CStart: 80, CEnd: 80, Protocol: "tcp"}},
		{"80-82", PortSpec{CStart: 80, CEnd: 82, Protocol: "tcp"}},
		{"53:53/UDP", PortSpec{HostStart: 53, HostEnd: 53, CStart: 53, CEnd: 53, Protocol: "udp"}},
	} {
		got, err := ParsePortSpec(tc.in)
		tc.want.Raw = tc.in
		if err != nil || got != tc.want {
			t.Errorf("ParsePortSpec(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, why string }{
		{"", "not a port number"},
		{"abc", "not a port number"},
		{"0", "not a port number"},
		{"65536", "not a port number"},
		{"80/sctp", "want tcp or udp"},
		{"8080:80/", "want tcp or udp"},
		{"1.2.3.4:80", "not a port number"},
		{"300.1.1.1:80:80", "not an IP address"},
		{"::1:8080:80", "too many ':'"},
		{"[::1]8080:80", "must be followed by"},
		{"[127.0.0.1]:8080:80", "not an IPv6 address"},
		{"[::1]:80", "want [IP]:HOSTPORT:CPORT"},
		{":8080:80", "empty host address"},
		{"8000-8001:80-82", "differ in length"},
		{"90-80", "range ends before it starts"},
		{"a:b:c:d", "too many ':'"},
	} {
		_, err := ParsePortSpec(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.why) || !strings.HasPrefix(err.Error(), fmt.Sprintf("-p %q: ", tc.in)) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParsePortSpec(%q) = %v; want one line naming the spec with %q", tc.in, err, tc.why)
		}
	}
}

// fakeProbe hands out ports from next and refuses the busy ones.
type fakeProbe struct {
	busy map[uint16]bool
	next uint16
}

func (p *fakeProbe) Free(m PortMapping) error {
	if p.busy[m.HostPort] {
		return fmt.Errorf("host port %d/%s is not free: address already in use", m.HostPort, m.Protocol)
	}
	return nil
}

func (p *fakeProbe) Pick(string, netip.Addr) (uint16, error) {
	p.next++
	return p.next, nil
}

func TestAssignPorts(t *testing.T) {
	parse := func(ss ...string) []PortSpec { return portSpecs(t, ss...) }
	probe := &fakeProbe{busy: map[uint16]bool{8000: true}, next: 40000}
	got, err := AssignPorts(parse("127.0.0.1:8080:80", "8001-8003:81-83/udp", "90", "8000-8005:99"), nil, probe)
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, m := range got {
		s = append(s, FormatPort(m))
	}
	want := "127.0.0.1:8080->80/tcp 0.0.0.0:8001->81/udp 0.0.0.0:8002->82/udp 0.0.0.0:8003->83/udp 0.0.0.0:40001->90/tcp 0.0.0.0:8001->99/tcp"
	if strings.Join(s, " ") != want {
		t.Fatalf("mappings = %s\nwant       %s", strings.Join(s, " "), want)
	}
	// A port busy on the host, or published by another container, is
	// refused and named.
	if _, err := AssignPorts(parse("8000:80"), nil, probe); err == nil || !strings.Contains(err.Error(), "8000") || !strings.Contains(err.Error(), `-p "8000:80"`) {
		t.Fatalf("busy port: %v", err)
	}
	taken := HeldPorts{{PortMapping{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 9000, Protocol: "tcp"}, "web"}}
	if _, err := AssignPorts(parse("9000:80"), taken, probe); err == nil || err.Error() != `-p "9000:80": host port 0.0.0.0:9000/tcp is already published by container web` {
		t.Fatalf("published port: %v", err)
	}
	if _, err := AssignPorts(parse("127.0.0.2:9000:80", "9000:80/udp"), taken, probe); err != nil {
		t.Fatalf("another address or protocol: %v", err)
	}
	// Every kind of spec asks held, and its error ends the assignment.
	for _, spec := range []string{"9200:80", "9200-9201:80", "80"} {
		if _, err := AssignPorts(parse(spec), brokenHolders{}, probe); err == nil || err.Error() != fmt.Sprintf("-p %q: index unreadable", spec) {
			t.Errorf("-p %s with an unreadable index: %v", spec, err)
		}
	}
	if _, err := AssignPorts(parse("9100:80", "9100:81"), nil, probe); err == nil || !strings.Contains(err.Error(), "published by this container") {
		t.Fatalf("one host port twice in one run: %v", err)
	}
	if _, err := AssignPorts(parse("8000-8000:80"), nil, probe); err == nil || !strings.Contains(err.Error(), "8000") {
		t.Fatalf("busy range: %v", err)
	}
}

// brokenHolders fails every look-up.
type brokenHolders struct{}

func (brokenHolders) Holder(PortMapping) (string, error) { return "", errors.New("index unreadable") }

func TestHeldPorts(t *testing.T) {
	a := netip.MustParseAddr
	held := HeldPorts{
		{PortMapping{HostIP: a("127.0.0.1"), HostPort: 8080, Protocol: "tcp"}, "web"},
		{PortMapping{HostPort: 9000, Protocol: "tcp"}, "api"},
	}
	for _, tc := range []struct {
		m    PortMapping
		want string
	}{
		{PortMapping{HostIP: a("127.0.0.1"), HostPort: 8080, Protocol: "tcp"}, "web"},
		{PortMapping{HostPort: 8080, Protocol: "tcp"}, "web"},
		{PortMapping{HostIP: a("127.0.0.2"), HostPort: 8080, Protocol: "tcp"}, ""},
		{PortMapping{HostIP: a("127.0.0.1"), HostPort: 8080, Protocol: "udp"}, ""},
		{PortMapping{HostIP: a("::1"), HostPort: 9000, Protocol: "tcp"}, "api"},
		{PortMapping{HostPort: 9001, Protocol: "tcp"}, ""},
	} {
		if got, err := held.Holder(tc.m); err != nil || got != tc.want {
			t.Errorf("Holder(%s) = %q, %v; want %q", FormatPort(tc.m), got, err, tc.want)
		}
	}
}

func TestBindProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	err = BindProbe{}.Free(PortMapping{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: port, Protocol: "tcp"})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("127.0.0.1:%d/tcp", port)) {
		t.Fatalf("a bound port: %v", err)
	}
	// Every address includes 127.0.0.1.
	if err := (BindProbe{}).Free(PortMapping{HostPort: port, Protocol: "tcp"}); err == nil {
		t.Fatal("a port bound on 127.0.0.1 was free on every address")
	}
	p, err := BindProbe{}.Pick("udp", netip.MustParseAddr("127.0.0.1"))
	if err != nil || p == 0 {
		t.Fatalf("Pick = %d, %v", p, err)
	}
	if err := (BindProbe{}).Free(PortMapping{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: p, Protocol: "udp"}); err != nil {
		t.Fatalf("a picked port is not free: %v", err)
	}
}

func TestExposedSpecs(t *testing.T) {
	got, err := ExposedSpecs([]string{"80/tcp", "53/udp", "8000-8001/tcp"})
	if err != nil || len(got) != 3 || got[1].Protocol != "udp" || got[2].CEnd != 8001 || got[0].HostStart != 0 {
		t.Fatalf("ExposedSpecs = %+v, %v", got, err)
	}
	if _, err := ExposedSpecs([]string{"1:2/tcp"}); err == nil {
		t.Fatal("a host port in an exposed port was accepted")
	}
}

// HeldPort is a host port another container publishes (the tests'
// PortHolders: a list).
type HeldPort struct {
	PortMapping
	// Container names the container that holds it.
	Container string
}

// HeldPorts is a list of the host ports other containers publish.
type HeldPorts []HeldPort

// Holder returns the container of the first port of h that conflicts
// with m.
func (h HeldPorts) Holder(m PortMapping) (string, error) {
	if i := slices.IndexFunc(h, func(t HeldPort) bool { return Conflicts(t.PortMapping, m) }); i >= 0 {
		return h[i].Container, nil
	}
	return "", nil
}
