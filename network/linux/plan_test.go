package linux

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stockade/stockade/network"
)

func render(rs []Rule) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(r.String())
		b.WriteString("\n")
	}
	return b.String()
}

func TestNetworkRules(t *testing.T) {
	base := network.Network{Name: "web", ID: "n1", Interface: "stk-n1",
		Subnet: netip.MustParsePrefix("10.88.0.0/16"), Gateway: netip.MustParseAddr("10.88.0.1")}
	dual := base
	dual.Subnet6 = netip.MustParsePrefix("fd00:88::/64")
	internal := base
	internal.Internal = true
	tests := []struct {
		name string
		n    network.Network
		want string
	}{
		{"ipv4", base, `forward: iifname "stk-n1" oifname @bridges oifname != "stk-n1" drop comment "net:i:n1"
postrouting: meta nfproto ipv4 oifname != "stk-n1" ip saddr 10.88.0.0/16 masquerade comment "net:i:n1"
postrouting: meta nfproto ipv4 oifname "stk-n1" ip saddr 10.88.0.0/16 ct status dnat masquerade comment "net:i:n1"
postrouting: meta nfproto ipv4 oifname "stk-n1" ip saddr 127.0.0.0/8 ct status dnat masquerade comment "net:i:n1"
`},
		{"dual stack", dual, `forward: iifname "stk-n1" oifname @bridges oifname != "stk-n1" drop comment "net:i:n1"
postrouting: meta nfproto ipv4 oifname != "stk-n1" ip saddr 10.88.0.0/16 masquerade comment "net:i:n1"
postrouting: meta nfproto ipv4 oifname "stk-n1" ip saddr 10.88.0.0/16 ct status dnat masquerade comment "net:i:n1"
postrouting: meta nfproto ipv4 oifname "stk-n1" ip saddr 127.0.0.0/8 ct status dnat masquerade comment "net:i:n1"
postrouting: meta nfproto ipv6 oifname != "stk-n1" ip6 saddr fd00:88::/64 masquerade comment "net:i:n1"
postrouting: meta nfproto ipv6 oifname "stk-n1" ip6 saddr fd00:88::/64 ct status dnat masquerade comment "net:i:n1"
postrouting: meta nfproto ipv6 oifname "stk-n1" ip6 saddr ::1/128 ct status dnat masquerade comment "net:i:n1"
`},
		{"internal: no masquerade out, drops first", internal, `forward: (first) iifname "stk-n1" oifname != "stk-n1" drop comment "net:i:n1"
forward: (first) iifname != "stk-n1" oifname "stk-n1" drop comment "net:i:n1"
postrouting: meta nfproto ipv4 oifname "stk-n1" ip saddr 10.88.0.0/16 ct status dnat masquerade comment "net:i:n1"
postrouting: meta nfproto ipv4 oifname "stk-n1" ip saddr 127.0.0.0/8 ct status dnat masquerade comment "net:i:n1"
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := NetworkRules("i", &tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if got := render(rs); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestNetworkRulesErrors(t *testing.T) {
	tests := []struct {
		name string
		n    network.Network
		want string
	}{
		{"no subnet", network.Network{Name: "x", ID: "1", Interface: "br"}, "IPv4 subnet"},
		{"v6 as v4", network.Network{Name: "x", ID: "1", Interface: "br", Subnet: netip.MustParsePrefix("fd00::/64")}, "IPv4 subnet"},
		{"v4 as v6", network.Network{Name: "x", ID: "1", Interface: "br", Subnet: netip.MustParsePrefix("10.0.0.0/24"), Subnet6: netip.MustParsePrefix("10.1.0.0/24")}, "not IPv6"},
		{"long bridge", network.Network{Name: "x", ID: "1", Interface: "a-very-long-bridge-name", Subnet: netip.MustParsePrefix("10.0.0.0/24")}, "1 to 15 bytes"},
		{"slash in bridge", network.Network{Name: "x", ID: "1", Interface: "a/b", Subnet: netip.MustParsePrefix("10.0.0.0/24")}, "'/'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NetworkRules("i", &tc.n)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestEndpointRules(t *testing.T) {
	n := &network.Network{Name: "web", ID: "n1", Interface: "stk-n1", Subnet: netip.MustParsePrefix("10.88.0.0/16")}
	v4 := netip.MustParsePrefix("10.88.0.5/16")
	v6 := netip.MustParsePrefix("fd00:88::5/64")
	tests := []struct {
		name  string
		addr6 netip.Prefix
		ports []network.PortMapping
		want  string
	}{
		{"none", netip.Prefix{}, nil, ""},
		{"every address, ipv4 only", netip.Prefix{}, []network.PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}},
			`prerouting: meta nfproto ipv4 fib daddr type local meta l4proto tcp th dport 8080 dnat ip to 10.88.0.5:80 comment "ep:i:n1:c1"
output: meta nfproto ipv4 fib daddr type local meta l4proto tcp th dport 8080 dnat ip to 10.88.0.5:80 comment "ep:i:n1:c1"
`},
		{"every address, dual stack, udp", v6, []network.PortMapping{{HostPort: 53, ContainerPort: 5353, Protocol: "udp"}},
			`prerouting: meta nfproto ipv4 fib daddr type local meta l4proto udp th dport 53 dnat ip to 10.88.0.5:5353 comment "ep:i:n1:c1"
output: meta nfproto ipv4 fib daddr type local meta l4proto udp th dport 53 dnat ip to 10.88.0.5:5353 comment "ep:i:n1:c1"
prerouting: meta nfproto ipv6 ip6 daddr != ::1/128 fib daddr type local meta l4proto udp th dport 53 dnat ip6 to [fd00:88::5]:5353 comment "ep:i:n1:c1"
output: meta nfproto ipv6 ip6 daddr != ::1/128 fib daddr type local meta l4proto udp th dport 53 dnat ip6 to [fd00:88::5]:5353 comment "ep:i:n1:c1"
`},
		{"bound to 127.0.0.1", v6, []network.PortMapping{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}},
			`prerouting: meta nfproto ipv4 ip daddr 127.0.0.1/32 meta l4proto tcp th dport 8080 dnat ip to 10.88.0.5:80 comment "ep:i:n1:c1"
output: meta nfproto ipv4 ip daddr 127.0.0.1/32 meta l4proto tcp th dport 8080 dnat ip to 10.88.0.5:80 comment "ep:i:n1:c1"
`},
		{"bound to ::1: the proxy's", v6, []network.PortMapping{{HostIP: netip.MustParseAddr("::1"), HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}, ""},
		{"bound to the gateway's ipv6", v6, []network.PortMapping{{HostIP: netip.MustParseAddr("fd00:88::1"), HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}},
			`prerouting: meta nfproto ipv6 ip6 daddr fd00:88::1/128 meta l4proto tcp th dport 8080 dnat ip6 to [fd00:88::5]:80 comment "ep:i:n1:c1"
output: meta nfproto ipv6 ip6 daddr fd00:88::1/128 meta l4proto tcp th dport 8080 dnat ip6 to [fd00:88::5]:80 comment "ep:i:n1:c1"
`},
		{"0.0.0.0 is every address", netip.Prefix{}, []network.PortMapping{{HostIP: netip.MustParseAddr("0.0.0.0"), HostPort: 1, ContainerPort: 2, Protocol: "tcp"}},
			`prerouting: meta nfproto ipv4 fib daddr type local meta l4proto tcp th dport 1 dnat ip to 10.88.0.5:2 comment "ep:i:n1:c1"
output: meta nfproto ipv4 fib daddr type local meta l4proto tcp th dport 1 dnat ip to 10.88.0.5:2 comment "ep:i:n1:c1"
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep := &network.Endpoint{ContainerID: "c1", Addr: v4, Addr6: tc.addr6, Ports: tc.ports}
			rs, err := EndpointRules("i", n, ep)
			if err != nil {
				t.Fatal(err)
			}
			if got := render(rs); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestEndpointRulesErrors(t *testing.T) {
	n := &network.Network{Name: "web", ID: "n1", Interface: "stk-n1", Subnet: netip.MustParsePrefix("10.88.0.0/16")}
	v4 := netip.MustParsePrefix("10.88.0.5/16")
	tests := []struct {
		name string
		port network.PortMapping
		want string
	}{
		{"protocol", network.PortMapping{HostPort: 1, ContainerPort: 1, Protocol: "sctp"}, "tcp or udp"},
		{"port 0", network.PortMapping{HostPort: 0, ContainerPort: 1, Protocol: "tcp"}, "1 to 65535"},
		{"ipv6 host, no ipv6", network.PortMapping{HostIP: netip.MustParseAddr("fd00::1"), HostPort: 1, ContainerPort: 1, Protocol: "tcp"}, "no IPv6 address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep := &network.Endpoint{ContainerID: "c1", Addr: v4, Ports: []network.PortMapping{tc.port}}
			_, err := EndpointRules("i", n, ep)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestOwnersAndAliases(t *testing.T) {
	n := &network.Network{ID: "nid"}
	ep := &network.Endpoint{ContainerID: "cid"}
	tests := []struct {
		in                   string
		kind, inst, nid, cid string
		parse                func(string) (string, string, string, string)
	}{
		{NetworkOwner("ab", n), "network", "ab", "nid", "", parseOwner},
		{EndpointOwner("ab", n, ep), "endpoint", "ab", "nid", "cid", parseOwner},
		{StaticOwner, "static", "", "", "", parseOwner},
		{"net:", "", "", "", "", parseOwner},
		{"ep:ab:nid", "", "", "", "", parseOwner},
		{"something else", "", "", "", "", parseOwner},
		{networkAlias("ab", n), "network", "ab", "nid", "", parseAlias},
		{endpointAlias("ab", n, ep), "endpoint", "ab", "nid", "cid", parseAlias},
		{"stockade-network x", "", "", "", "", parseAlias},
		{"admin's bridge", "", "", "", "", parseAlias},
	}
	for _, tc := range tests {
		kind, inst, nid, cid := tc.parse(tc.in)
		if kind != tc.kind || inst != tc.inst || nid != tc.nid || cid != tc.cid {
			t.Errorf("%q: %q %q %q %q, want %q %q %q %q", tc.in, kind, inst, nid, cid, tc.kind, tc.inst, tc.nid, tc.cid)
		}
	}
}

func TestNames(t *testing.T) {
	cid := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if got := HostIfName(cid, "fedcba9876"); got != "stkv0123456fedc" || len(got) > maxIfName {
		t.Errorf("HostIfName = %q", got)
	}
	if got := BridgeName(cid); len(got) > maxIfName {
		t.Errorf("BridgeName = %q, longer than %d", got, maxIfName)
	}
	if a, b := Instance("/var/db/stockade"), Instance("/var/db/stockade/"); a != b || len(a) != 8 {
		t.Errorf("Instance: %q and %q", a, b)
	}
	if Instance("/a") == Instance("/b") {
		t.Error("Instance: two directories, one instance")
	}
	c := Config{StateDir: "/run/stockade"}
	if got := c.NetNSPath(cid); got != "/run/stockade/netns/0123456789ab" {
		t.Errorf("NetNSPath = %q", got)
	}
}

func TestLoopbackProxies(t *testing.T) {
	v4 := netip.MustParsePrefix("10.88.0.5/16")
	v6 := netip.MustParsePrefix("fd00:88::5/64")
	ports := []network.PortMapping{
		{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
		{HostIP: netip.MustParseAddr("::"), HostPort: 8081, ContainerPort: 81, Protocol: "tcp"},
		{HostIP: netip.MustParseAddr("::1"), HostPort: 8082, ContainerPort: 82, Protocol: "tcp"},
		{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8083, ContainerPort: 83, Protocol: "tcp"},
		{HostPort: 53, ContainerPort: 53, Protocol: "udp"},
	}
	tests := []struct {
		name  string
		addr6 netip.Prefix
		want  string
	}{
		{"to ipv4", netip.Prefix{}, "[tcp [::1]:8080 10.88.0.5:80] [tcp [::1]:8081 10.88.0.5:81] [tcp [::1]:8082 10.88.0.5:82] [udp [::1]:53 10.88.0.5:53]"},
		{"to ipv6", v6, "[tcp [::1]:8080 [fd00:88::5]:80] [tcp [::1]:8081 [fd00:88::5]:81] [tcp [::1]:8082 [fd00:88::5]:82] [udp [::1]:53 [fd00:88::5]:53]"},
	}
	for _, tc := range tests {
		ep := &network.Endpoint{Addr: v4, Addr6: tc.addr6, Ports: ports}
		var got []string
		for _, p := range LoopbackProxies(ep) {
			got = append(got, "["+p.Protocol+" "+p.Listen.String()+" "+p.Target.String()+"]")
		}
		if s := strings.Join(got, " "); s != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, s, tc.want)
		}
	}
}

func TestDriverForwards(t *testing.T) {
	for _, tc := range []struct {
		host string // "" for every address
		want bool
	}{
		{"", true},
		{"::", true},
		{"::1", true},
		{"0.0.0.0", true},
		{"127.0.0.1", false},
		{"192.0.2.7", false},
	} {
		ep := &network.Endpoint{Addr: netip.MustParsePrefix("10.88.0.5/16"), Ports: []network.PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}}
		if tc.host != "" {
			ep.Ports[0].HostIP = netip.MustParseAddr(tc.host)
		}
		if got := (&Driver{}).Forwards(ep); got != tc.want {
			t.Errorf("Forwards(port on %q) = %v, want %v", tc.host, got, tc.want)
		}
	}
	if (&Driver{}).Forwards(&network.Endpoint{Addr: netip.MustParsePrefix("10.88.0.5/16")}) {
		t.Error("Forwards(no ports) = true")
	}
}
