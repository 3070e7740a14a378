package freebsd

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stockade/stockade/network"
)

func TestNetworkRules(t *testing.T) {
	for _, tc := range []struct {
		name       string
		edit       func(*network.Network)
		ext4, ext6 string
		want       []string
	}{
		{"ipv4", nil, "em0", "", []string{
			"nat on em0 inet from 10.88.0.0/24 to ! 10.88.0.0/24 -> (em0)",
			"pass in quick on stk-aaaaaaaa inet from 10.88.0.0/24 to 10.88.0.0/24",
			"block drop in quick on stk-aaaaaaaa inet from any to (stockade:network)",
		}},
		{"no default route", nil, "", "", []string{
			"pass in quick on stk-aaaaaaaa inet from 10.88.0.0/24 to 10.88.0.0/24",
			"block drop in quick on stk-aaaaaaaa inet from any to (stockade:network)",
		}},
		{"internal dual stack", func(n *network.Network) {
			n.Internal = true
			n.Subnet6, n.Gateway6 = netip.MustParsePrefix("fd00:88::/64"), netip.MustParseAddr("fd00:88::1")
		}, "em0", "em0", []string{
			"pass in quick on stk-aaaaaaaa inet from 10.88.0.0/24 to 10.88.0.0/24",
			"block drop in quick on stk-aaaaaaaa inet from any to (stockade:network)",
			"block drop in quick on stk-aaaaaaaa inet from any to any",
			"pass in quick on stk-aaaaaaaa inet6 proto icmp6 icmp6-type { neighbrsol, neighbradv, routersol }",
			"pass in quick on stk-aaaaaaaa inet6 from fd00:88::/64 to fd00:88::/64",
			"block drop in quick on stk-aaaaaaaa inet6 from any to (stockade:network)",
			"block drop in quick on stk-aaaaaaaa inet6 from any to any",
		}},
		{"dual stack, IPv6 default route on another interface", func(n *network.Network) {
			n.Subnet6, n.Gateway6 = netip.MustParsePrefix("fd00:88::/64"), netip.MustParseAddr("fd00:88::1")
		}, "em0", "gif0", []string{
			"nat on em0 inet from 10.88.0.0/24 to ! 10.88.0.0/24 -> (em0)",
			"nat on gif0 inet6 from fd00:88::/64 to ! fd00:88::/64 -> (gif0)",
			"pass in quick on stk-aaaaaaaa inet from 10.88.0.0/24 to 10.88.0.0/24",
			"block drop in quick on stk-aaaaaaaa inet from any to (stockade:network)",
			"pass in quick on stk-aaaaaaaa inet6 proto icmp6 icmp6-type { neighbrsol, neighbradv, routersol }",
			"pass in quick on stk-aaaaaaaa inet6 from fd00:88::/64 to fd00:88::/64",
			"block drop in quick on stk-aaaaaaaa inet6 from any to (stockade:network)",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := testNet()
			if tc.edit != nil {
				tc.edit(n)
			}
			got := strings.Split(strings.TrimSpace(networkRules(n, tc.ext4, tc.ext6)), "\n")
			want := append([]string{"# stockade network web (" + netID + ")"}, tc.want...)
			eq(t, "rules", got, want)
		})
	}
}

func TestEndpointRules(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	for _, tc := range []struct {
		name  string
		v6    bool
		ports []network.PortMapping
		want  []string
	}{
		{"loopback only: the proxy's", false, []network.PortMapping{
			{HostIP: lo, HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
			{HostIP: netip.MustParseAddr("::1"), HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
		}, nil},
		{"one host address, tcp and udp", false, []network.PortMapping{
			{HostIP: netip.MustParseAddr("192.0.2.7"), HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
			{HostPort: 5353, ContainerPort: 53, Protocol: "udp"},
		}, []string{
			"nat on stk-aaaaaaaa inet proto tcp from 10.88.0.0/24 to 10.88.0.2 port 80 tagged STOCKADE_RDR -> 10.88.0.1",
			"nat on stk-aaaaaaaa inet proto udp from 10.88.0.0/24 to 10.88.0.2 port 53 tagged STOCKADE_RDR -> 10.88.0.1",
			"rdr pass on ! lo0 inet proto tcp from any to 192.0.2.7 port 8080 tag STOCKADE_RDR -> 10.88.0.2 port 80",
			"rdr pass on ! lo0 inet proto udp from any to self port 5353 tag STOCKADE_RDR -> 10.88.0.2 port 53",
		}},
		{"two host ports to one container port", false, []network.PortMapping{
			{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
			{HostPort: 8081, ContainerPort: 80, Protocol: "tcp"},
		}, []string{
			"nat on stk-aaaaaaaa inet proto tcp from 10.88.0.0/24 to 10.88.0.2 port 80 tagged STOCKADE_RDR -> 10.88.0.1",
			"rdr pass on ! lo0 inet proto tcp from any to self port 8080 tag STOCKADE_RDR -> 10.88.0.2 port 80",
			"rdr pass on ! lo0 inet proto tcp from any to self port 8081 tag STOCKADE_RDR -> 10.88.0.2 port 80",
		}},
		{"dual stack", true, []network.PortMapping{
			{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
			{HostIP: netip.MustParseAddr("2001:db8::5"), HostPort: 8443, ContainerPort: 443, Protocol: "tcp"},
		}, []string{
			"nat on stk-aaaaaaaa inet proto tcp from 10.88.0.0/24 to 10.88.0.2 port 80 tagged STOCKADE_RDR -> 10.88.0.1",
			"nat on stk-aaaaaaaa inet6 proto tcp from fd00:88::/64 to fd00:88::2 port 80 tagged STOCKADE_RDR -> fd00:88::1",
			"nat on stk-aaaaaaaa inet6 proto tcp from fd00:88::/64 to fd00:88::2 port 443 tagged STOCKADE_RDR -> fd00:88::1",
			"rdr pass on ! lo0 inet proto tcp from any to self port 8080 tag STOCKADE_RDR -> 10.88.0.2 port 80",
			"rdr pass on ! lo0 inet6 proto tcp from any to self port 8080 tag STOCKADE_RDR -> fd00:88::2 port 80",
			"rdr pass on ! lo0 inet6 proto tcp from any to 2001:db8::5 port 8443 tag STOCKADE_RDR -> fd00:88::2 port 443",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, ep := testNet(), testEP()
			if tc.v6 {
				n = testNet6()
				ep.Addr6 = netip.MustParsePrefix("fd00:88::2/64")
			}
			ep.Ports = tc.ports
			got := endpointRules(n, ep)
			if tc.want == nil {
				if got != "" {
					t.Errorf("rules for loopback-only ports:\n%s", got)
				}
				return
			}
			want := append([]string{"# stockade container app (" + ctrID + ") on network web"}, tc.want...)
			eq(t, "rules", strings.Split(strings.TrimSpace(got), "\n"), want)
		})
	}
}

func TestCheckPorts(t *testing.T) {
	for _, tc := range []struct {
		p    network.PortMapping
		v6   bool
		want string
	}{
		{network.PortMapping{HostPort: 80, ContainerPort: 80, Protocol: "sctp"}, false, `protocol "sctp"`},
		{network.PortMapping{HostPort: 0, ContainerPort: 80, Protocol: "tcp"}, false, "port 0"},
		{network.PortMapping{HostIP: netip.MustParseAddr("2001:db8::5"), HostPort: 80, ContainerPort: 80, Protocol: "tcp"}, false, "no IPv6 address"},
		{network.PortMapping{HostIP: netip.MustParseAddr("2001:db8::5"), HostPort: 80, ContainerPort: 80, Protocol: "tcp"}, true, ""},
		{network.PortMapping{HostIP: netip.MustParseAddr("::1"), HostPort: 80, ContainerPort: 80, Protocol: "udp"}, false, ""},
	} {
		ep := testEP()
		if tc.v6 {
			ep.Addr6 = netip.MustParsePrefix("fd00:88::2/64")
		}
		ep.Ports = []network.PortMapping{tc.p}
		err := checkPorts(ep)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.p, err, tc.want)
		}
	}
}

func TestParseRouteInterface(t *testing.T) {
	out := "   route to: default\ndestination: default\n       mask: default\n    gateway: 192.0.2.1\n        fib: 0\n  interface: vtnet0\n      flags: <UP,GATEWAY,DONE,STATIC>\n"
	if got := parseRouteInterface(out); got != "vtnet0" {
		t.Errorf("got %q", got)
	}
	if got := parseRouteInterface("route: route has not been found\n"); got != "" {
		t.Errorf("got %q", got)
	}
}
