package freebsd

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/network"
)

const (
	netID = "aaaaaaaaaaaabbbbbbbbbbbbccccccccccccddddddddddddeeeeeeeeeeeeffff"
	ctrID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

func testNet() *network.Network {
	return &network.Network{
		Name: "web", ID: netID, Driver: "bridge", Interface: "stk-aaaaaaaa",
		Subnet: netip.MustParsePrefix("10.88.0.0/24"), Gateway: netip.MustParseAddr("10.88.0.1"),
	}
}

func testNet6() *network.Network {
	n := testNet()
	n.Subnet6 = netip.MustParsePrefix("fd00:88::/64")
	n.Gateway6 = netip.MustParseAddr("fd00:88::1")
	return n
}

func testEP() *network.Endpoint {
	return &network.Endpoint{
		ContainerID: ctrID, ContainerName: "app", Network: "web", IfName: "eth0",
		MAC: "02:42:0a:58:00:02", Addr: netip.MustParsePrefix("10.88.0.2/24"),
	}
}

func newTestDriver() (*Driver, *fakeHost) {
	h := newFakeHost()
	h.out["ps -o jid= -p 4242"] = "   7\n"
	h.out["route -n get -inet default"] = "   route to: default\ndestination: default\n    gateway: 192.0.2.1\n  interface: em0\n      flags: <UP,GATEWAY,DONE,STATIC>\n"
	h.out["route -n get -inet6 default"] = "  interface: em0\n"
	return New(h, nil), h
}

var sb = network.Sandbox{ContainerID: ctrID, Pid: 4242}

func eq(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}

func TestEnsureNetworkCommands(t *testing.T) {
	d, h := newTestDriver()
	ctx := context.Background()
	n := testNet6()
	if err := d.EnsureNetwork(ctx, n); err != nil {
		t.Fatal(err)
	}
	eq(t, "calls", h.log(), []string{
		"ifconfig stk-aaaaaaaa",
		"ifconfig bridge create",
		"ifconfig bridge0 name stk-aaaaaaaa",
		"ifconfig stk-aaaaaaaa inet 10.88.0.1/24",
		"ifconfig stk-aaaaaaaa inet6 fd00:88::1/64 -ifdisabled",
		"ifconfig stk-aaaaaaaa group stockade description stockade-network " + netID + " up",
		"route -n get -inet default",
		"route -n get -inet6 default",
		"pfctl -a stockade/net-aaaaaaaaaaaa -f -",
	})
	eq(t, "state", h.state(), []string{"anchor stockade/net-aaaaaaaaaaaa", "if stk-aaaaaaaa@"})
	rules := h.stdin["stockade/net-aaaaaaaaaaaa"]
	for _, want := range []string{
		"nat on em0 inet from 10.88.0.0/24 to ! 10.88.0.0/24 -> (em0)\n",
		"nat on em0 inet6 from fd00:88::/64 to ! fd00:88::/64 -> (em0)\n",
		"pass in quick on stk-aaaaaaaa inet from 10.88.0.0/24 to 10.88.0.0/24\n",
		"block drop in quick on stk-aaaaaaaa inet from any to (stockade:network)\n",
		"pass in quick on stk-aaaaaaaa inet6 proto icmp6 icmp6-type { neighbrsol, neighbradv, routersol }\n" +
			"pass in quick on stk-aaaaaaaa inet6 from fd00:88::/64 to fd00:88::/64\n" +
			"block drop in quick on stk-aaaaaaaa inet6 from any to (stockade:network)\n",
	} {
		if !strings.Contains(rules, want) {
			t.Errorf("rules lack %q:\n%s", want, rules)
		}
	}

	// Again: the bridge is kept, the anchor reloaded.
	h.reset()
	if err := d.EnsureNetwork(ctx, n); err != nil {
		t.Fatal(err)
	}
	eq(t, "second calls", h.log(), []string{
		"ifconfig stk-aaaaaaaa",
		"route -n get -inet default",
		"route -n get -inet6 default",
		"pfctl -a stockade/net-aaaaaaaaaaaa -f -",
	})

	h.reset()
	if err := d.RemoveNetwork(ctx, n); err != nil {
		t.Fatal(err)
	}
	eq(t, "remove calls", h.log(), []string{
		"pfctl -a stockade/net-aaaaaaaaaaaa -F all",
		"ifconfig stk-aaaaaaaa destroy",
	})
	eq(t, "state after remove", h.state(), nil)
	// Removing what is gone is done.
	if err := d.RemoveNetwork(ctx, n); err != nil {
		t.Fatalf("second remove: %v", err)
	}
}

func TestEnsureNetworkFailureLeavesNothing(t *testing.T) {
	n := testNet6()
	// Count the commands of a whole run, then fail each in turn.
	d, h := newTestDriver()
	if err := d.EnsureNetwork(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	total := len(h.log())
	for k := 2; k <= total; k++ { // the first command is the existence probe
		d, h := newTestDriver()
		h.failOn["#"+strconv.Itoa(k)] = errLine("boom")
		line := ""
		err := d.EnsureNetwork(context.Background(), n)
		if k-1 < len(h.log()) {
			line = h.log()[k-1]
		}
		if strings.HasPrefix(line, "route ") {
			// No default route: no NAT, not a failure.
			if err != nil {
				t.Errorf("fail at %q: %v", line, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("fail at %q: no error", line)
			continue
		}
		if !strings.Contains(err.Error(), "network web") {
			t.Errorf("error %q does not name the network", err)
		}
		eq(t, "state after a failure at "+line, h.state(), nil)
	}
}

func TestAttachDetachCommands(t *testing.T) {
	d, h := newTestDriver()
	ctx := context.Background()
	n := testNet6()
	if err := d.EnsureNetwork(ctx, n); err != nil {
		t.Fatal(err)
	}
	ep := testEP()
	ep.Addr6 = netip.MustParsePrefix("fd00:88::2/64")
	ep.Ports = []network.PortMapping{
		{HostPort: freePort(t), ContainerPort: 80, Protocol: "tcp"},
		{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: freePort(t), ContainerPort: 53, Protocol: "udp"},
	}
	hp := itoaU(ep.Ports[0].HostPort)
	h.reset()
	if err := d.Attach(ctx, n, ep, sb); err != nil {
		t.Fatal(err)
	}
	hostIf := "stke0123456aaaa"
	eq(t, "attach calls", h.log(), []string{
		// leftovers of an interrupted attach
		"pfctl -a stockade/ep-0123456789ab-aaaaaaaa -F all",
		"ifconfig " + hostIf + " destroy",
		"ps -o jid= -p 4242",
		"ifconfig epair create",
		"ifconfig epair0a name " + hostIf,
		"ifconfig " + hostIf + " group stockadeif description stockade-endpoint " + netID + " " + ctrID + " up",
		"ifconfig stk-aaaaaaaa addm " + hostIf,
		"ifconfig epair0b ether 02:42:0a:58:00:02",
		"ifconfig epair0b vnet 7",
		"ifconfig -j 7 epair0b name eth0",
		"ifconfig -j 7 eth0 inet 10.88.0.2/24 up",
		"ifconfig -j 7 eth0 inet6 fd00:88::2/64 -ifdisabled",
		"ifconfig -j 7 lo0 inet 127.0.0.1/8 up",
		"route -j 7 -n -q add -inet default 10.88.0.1",
		"route -j 7 -n -q add -inet6 default fd00:88::1",
		"pfctl -a stockade/ep-0123456789ab-aaaaaaaa -f -",
	})
	eq(t, "state", h.state(), []string{
		"anchor stockade/ep-0123456789ab-aaaaaaaa", "anchor stockade/net-aaaaaaaaaaaa",
		"if eth0@7", "if stk-aaaaaaaa@", "if " + hostIf + "@",
	})
	eq(t, "endpoint rules", strings.Split(strings.TrimSpace(h.stdin["stockade/ep-0123456789ab-aaaaaaaa"]), "\n"), []string{
		"# stockade container app (" + ctrID + ") on network web",
		"nat on stk-aaaaaaaa inet proto tcp from 10.88.0.0/24 to 10.88.0.2 port 80 tagged STOCKADE_RDR -> 10.88.0.1",
		"nat on stk-aaaaaaaa inet6 proto tcp from fd00:88::/64 to fd00:88::2 port 80 tagged STOCKADE_RDR -> fd00:88::1",
		"rdr pass on ! lo0 inet proto tcp from any to self port " + hp + " tag STOCKADE_RDR -> 10.88.0.2 port 80",
		"rdr pass on ! lo0 inet6 proto tcp from any to self port " + hp + " tag STOCKADE_RDR -> fd00:88::2 port 80",
	})
	// The proxies hold the published ports.
	for _, p := range ep.Ports {
		addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), p.HostPort).String()
		if p.Protocol == "tcp" {
			if ln, err := net.Listen("tcp4", addr); err == nil {
				ln.Close()
				t.Errorf("tcp %s is free while attached", addr)
			}
		} else if pc, err := net.ListenPacket("udp4", addr); err == nil {
			pc.Close()
			t.Errorf("udp %s is free while attached", addr)
		}
	}

	h.reset()
	if err := d.Detach(ctx, n, ep, sb); err != nil {
		t.Fatal(err)
	}
	eq(t, "detach calls", h.log(), []string{
		"pfctl -a stockade/ep-0123456789ab-aaaaaaaa -F all",
		"ifconfig " + hostIf + " destroy",
	})
	eq(t, "state after detach", h.state(), []string{"anchor stockade/net-aaaaaaaaaaaa", "if stk-aaaaaaaa@"})
	// The ports are free again.
	ln, err := net.Listen("tcp4", netip.AddrPortFrom(netip.MustParseAddr("0.0.0.0"), ep.Ports[0].HostPort).String())
	if err != nil {
		t.Fatalf("port still held after detach: %v", err)
	}
	ln.Close()
	if err := d.Detach(ctx, n, ep, sb); err != nil {
		t.Fatalf("second detach: %v", err)
	}
}

// Two processes make the same network at once: the one that loses the
// race to name the bridge destroys its own and uses the other's.
func TestEnsureNetworkRace(t *testing.T) {
	d, h := newTestDriver()
	n := testNet()
	h.ifs["stk-aaaaaaaa"] = "" // made by the other process after our probe
	h.failOn["ifconfig stk-aaaaaaaa"] = errLine("ifconfig: interface stk-aaaaaaaa does not exist")
	// The probe fails once only: the next look finds the other's bridge.
	h.failOn["#1"] = h.failOn["ifconfig stk-aaaaaaaa"]
	delete(h.failOn, "ifconfig stk-aaaaaaaa")
	if err := d.EnsureNetwork(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	eq(t, "calls", h.log(), []string{
		"ifconfig stk-aaaaaaaa",
		"ifconfig bridge create",
		"ifconfig bridge0 name stk-aaaaaaaa",
		"ifconfig stk-aaaaaaaa",
		"ifconfig bridge0 destroy",
		"route -n get -inet default",
		"pfctl -a stockade/net-aaaaaaaaaaaa -f -",
	})
	eq(t, "state", h.state(), []string{"anchor stockade/net-aaaaaaaaaaaa", "if stk-aaaaaaaa@"})
}

func itoaU(p uint16) string { return strconv.Itoa(int(p)) }

func TestAttachInternalHasNoRoute(t *testing.T) {
	d, h := newTestDriver()
	ctx := context.Background()
	n := testNet()
	n.Internal = true
	if err := d.EnsureNetwork(ctx, n); err != nil {
		t.Fatal(err)
	}
	rules := h.stdin["stockade/net-aaaaaaaaaaaa"]
	if strings.Contains(rules, "nat on") {
		t.Errorf("internal network has NAT:\n%s", rules)
	}
	if !strings.Contains(rules, "block drop in quick on stk-aaaaaaaa inet from any to any\n") {
		t.Errorf("internal network does not block traffic out:\n%s", rules)
	}
	h.reset()
	if err := d.Attach(ctx, n, testEP(), sb); err != nil {
		t.Fatal(err)
	}
	for _, c := range h.log() {
		if strings.HasPrefix(c, "route ") {
			t.Errorf("internal network: %q", c)
		}
		if strings.HasPrefix(c, "pfctl") && strings.HasSuffix(c, "-f -") {
			t.Errorf("no published port, yet %q", c)
		}
	}
}

func TestAttachFailureLeavesNothing(t *testing.T) {
	n := testNet6()
	mk := func() (*Driver, *fakeHost, *network.Endpoint) {
		d, h := newTestDriver()
		if err := d.EnsureNetwork(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		ep := testEP()
		ep.Addr6 = netip.MustParsePrefix("fd00:88::2/64")
		ep.Ports = []network.PortMapping{{HostPort: freePort(t), ContainerPort: 80, Protocol: "tcp"}}
		h.reset()
		return d, h, ep
	}
	d, h, ep := mk()
	before := h.state()
	if err := d.Attach(context.Background(), n, ep, sb); err != nil {
		t.Fatal(err)
	}
	calls := h.log()
	for k := 3; k <= len(calls); k++ { // 1 and 2 clean leftovers
		d, h, ep := mk()
		h.failOn[calls[k-1]] = errLine("boom")
		err := d.Attach(context.Background(), n, ep, sb)
		if err == nil {
			t.Errorf("fail at %q: no error", calls[k-1])
			continue
		}
		if !strings.Contains(err.Error(), "network web: attach app") || !strings.Contains(err.Error(), "boom") {
			t.Errorf("error %q", err)
		}
		eq(t, "state after a failure at "+calls[k-1], h.state(), before)
		// Undo runs in reverse: the last command destroys the epair when one was made.
		log := h.log()
		if k > 4 && log[len(log)-1] != "ifconfig stke0123456aaaa destroy" && log[len(log)-1] != "ifconfig epair0a destroy" {
			t.Errorf("fail at %q: last command %q", calls[k-1], log[len(log)-1])
		}
		// And the published port is free again.
		ln, err := net.Listen("tcp4", netip.AddrPortFrom(netip.IPv4Unspecified(), ep.Ports[0].HostPort).String())
		if err != nil {
			t.Errorf("fail at %q: port still held: %v", calls[k-1], err)
		} else {
			ln.Close()
		}
	}
}

func TestAttachPortTakenFailsFirst(t *testing.T) {
	d, h := newTestDriver()
	n := testNet()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	ep := testEP()
	ep.Ports = []network.PortMapping{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: port, ContainerPort: 80, Protocol: "tcp"}}
	err = d.Attach(context.Background(), n, ep, sb)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:"+itoaU(port)) {
		t.Fatalf("err = %v, want one naming 127.0.0.1:%d", err, port)
	}
	for _, c := range h.log() {
		if strings.Contains(c, "create") {
			t.Errorf("made something before the port check: %q", c)
		}
	}
}

func TestAttachNotInJail(t *testing.T) {
	d, h := newTestDriver()
	h.out["ps -o jid= -p 4242"] = "    0\n"
	err := d.Attach(context.Background(), testNet(), testEP(), sb)
	if err == nil || !strings.Contains(err.Error(), "in no jail") {
		t.Fatalf("err = %v", err)
	}
	eq(t, "state", h.state(), nil)
}

func TestAliasMode(t *testing.T) {
	d, h := newTestDriver()
	ctx := context.Background()
	n := &network.Network{Name: "lan", ID: netID, Driver: DriverAlias, Interface: "em0"}
	ep := &network.Endpoint{ContainerID: ctrID, ContainerName: "app", Network: "lan", Driver: DriverAlias,
		Addr: netip.MustParsePrefix("192.0.2.50/24"), Addr6: netip.MustParsePrefix("2001:db8::50/64")}
	if err := d.Preflight(ctx, n); err != nil {
		t.Fatal(err)
	}
	if err := d.EnsureNetwork(ctx, n); err != nil {
		t.Fatal(err)
	}
	spec := &specs.Spec{FreeBSD: &specs.FreeBSD{Jail: &specs.FreeBSDJail{Vnet: "new", Ip4: "inherit"}}}
	if err := d.Spec(ep, sb, spec); err != nil {
		t.Fatal(err)
	}
	j := spec.FreeBSD.Jail
	if j.Vnet != "" || j.Ip4 != "" || !slices.Equal(j.Ip4Addr, []string{"192.0.2.50"}) || !slices.Equal(j.Ip6Addr, []string{"2001:db8::50"}) {
		t.Errorf("jail = %+v", j)
	}
	h.reset()
	if err := d.Attach(ctx, n, ep, sb); err != nil {
		t.Fatal(err)
	}
	eq(t, "attach", h.log(), []string{"ifconfig em0 inet 192.0.2.50/32 alias", "ifconfig em0 inet6 2001:db8::50/128 alias"})
	eq(t, "state", h.state(), []string{"alias em0 192.0.2.50", "alias em0 2001:db8::50"})
	h.reset()
	if err := d.Detach(ctx, n, ep, sb); err != nil {
		t.Fatal(err)
	}
	eq(t, "detach", h.log(), []string{"ifconfig em0 inet 192.0.2.50 -alias", "ifconfig em0 inet6 2001:db8::50 -alias"})
	eq(t, "state after detach", h.state(), nil)
	if err := d.Detach(ctx, n, ep, sb); err != nil {
		t.Fatalf("second detach: %v", err)
	}

	// A failure at the second alias takes the first back.
	h.failOn["ifconfig em0 inet6 2001:db8::50/128 alias"] = errLine("ifconfig: ioctl (SIOCAIFADDR): File exists")
	if err := d.Attach(ctx, n, ep, sb); err == nil {
		t.Fatal("no error")
	}
	eq(t, "state after failed attach", h.state(), nil)

	// No IPv6: the jail gets none of the host's.
	ep.Addr6 = netip.Prefix{}
	spec = &specs.Spec{}
	if err := d.Spec(ep, sb, spec); err != nil {
		t.Fatal(err)
	}
	if spec.FreeBSD.Jail.Ip6 != specs.FreeBSDShareDisable {
		t.Errorf("ip6 = %q, want disable", spec.FreeBSD.Jail.Ip6)
	}
	// Published ports are refused before anything is made.
	ep.Ports = []network.PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}
	if err := d.Spec(ep, sb, &specs.Spec{}); err == nil || !strings.Contains(err.Error(), "published port 8080") {
		t.Errorf("spec with ports: %v", err)
	}
	// A missing interface fails preflight, naming it.
	n.Interface = "em9"
	if err := d.Preflight(ctx, n); err == nil || !strings.Contains(err.Error(), "em9") {
		t.Errorf("preflight: %v", err)
	}
}

func TestSpecVnet(t *testing.T) {
	d, _ := newTestDriver()
	spec := &specs.Spec{FreeBSD: &specs.FreeBSD{Jail: &specs.FreeBSDJail{
		Ip4: "inherit", Ip4Addr: []string{"10.0.0.1"}, Ip6: "new", Interface: "em0", Host: "new",
	}}}
	if err := d.Spec(testEP(), sb, spec); err != nil {
		t.Fatal(err)
	}
	j := spec.FreeBSD.Jail
	if j.Vnet != specs.FreeBSDShareNew || j.Ip4 != "" || j.Ip4Addr != nil || j.Ip6 != "" || j.Interface != "" || j.Host != "new" {
		t.Errorf("jail = %+v", j)
	}
	spec = &specs.Spec{}
	if err := d.Spec(testEP(), sb, spec); err != nil || spec.FreeBSD.Jail.Vnet != "new" {
		t.Errorf("empty spec: %v %+v", err, spec.FreeBSD)
	}
}

func TestPreflight(t *testing.T) {
	const sysctls = "sysctl -i kern.osreldate net.inet.ip.forwarding net.inet6.ip6.forwarding"
	good := map[string]string{
		sysctls:          "kern.osreldate: 1402000\nnet.inet.ip.forwarding: 1\nnet.inet6.ip6.forwarding: 1\n",
		"pfctl -s info":  "Status: Enabled for 0 days 00:10:00           Debug: Urgent\n",
		"pfctl -s nat":   "nat-anchor \"stockade/*\" all\nrdr-anchor \"stockade/*\" all\n",
		"pfctl -s rules": "block drop in all\nanchor \"stockade/*\" all\npass out all flags S/SA keep state\n",
	}
	for _, tc := range []struct {
		name     string
		change   map[string]string
		fail     string
		internal bool
		want     []string
	}{
		{name: "ok"},
		{name: "old", change: map[string]string{sysctls: "kern.osreldate: 1302000\nnet.inet.ip.forwarding: 1\nnet.inet6.ip6.forwarding: 1\n"}, want: []string{"FreeBSD 13.3 or later", "1302000"}},
		{name: "no pf", fail: "pfctl -s info", want: []string{"pf is not loaded: kldload pf"}},
		{name: "pf off", change: map[string]string{"pfctl -s info": "Status: Disabled\n"}, want: []string{"pf is disabled: pfctl -e"}},
		{name: "no rdr anchor", change: map[string]string{"pfctl -s nat": "nat-anchor \"stockade/*\" all\n"},
			want: []string{`lacks rdr-anchor "stockade/*"`, "/etc/pf.conf"}},
		{name: "no anchors", change: map[string]string{"pfctl -s nat": "", "pfctl -s rules": "anchor \"other/*\" all\n"},
			want: []string{`lacks nat-anchor "stockade/*", rdr-anchor "stockade/*", anchor "stockade/*"`}},
		{name: "no forwarding", change: map[string]string{sysctls: "kern.osreldate: 1402000\nnet.inet.ip.forwarding: 0\nnet.inet6.ip6.forwarding: 1\n"}, want: []string{"sysctl net.inet.ip.forwarding=1", "gateway_enable=YES"}},
		{name: "no forwarding6", change: map[string]string{sysctls: "kern.osreldate: 1402000\nnet.inet.ip.forwarding: 1\nnet.inet6.ip6.forwarding: 0\n"}, want: []string{"net.inet6.ip6.forwarding=1"}},
		{name: "no INET6 in the kernel", change: map[string]string{sysctls: "kern.osreldate: 1402000\nnet.inet.ip.forwarding: 1\n"}, want: []string{"IPv6 forwarding is off"}},
		{name: "internal needs no forwarding", internal: true, change: map[string]string{sysctls: "kern.osreldate: 1402000\nnet.inet.ip.forwarding: 0\nnet.inet6.ip6.forwarding: 0\n"}},
		{name: "two at once", change: map[string]string{"pfctl -s info": "Status: Disabled\n", sysctls: "kern.osreldate: 1402000\nnet.inet.ip.forwarding: 0\nnet.inet6.ip6.forwarding: 1\n"},
			want: []string{"pf is disabled", "; IPv4 forwarding is off"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, h := newTestDriver()
			for k, v := range good {
				h.out[k] = v
			}
			for k, v := range tc.change {
				h.out[k] = v
			}
			if tc.fail != "" {
				h.failOn[tc.fail] = errLine("pfctl: /dev/pf: No such file or directory")
			}
			n := testNet6()
			n.Internal = tc.internal
			err := d.Preflight(context.Background(), n)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "network web: ") {
				t.Errorf("not one line naming the network: %q", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q lacks %q", msg, w)
				}
			}
		})
	}
}

func TestCheck(t *testing.T) {
	d, h := newTestDriver()
	ctx := context.Background()
	live, dead := testNet(), testNet()
	dead.Name, dead.ID, dead.Interface = "old", "9999999999999999"+netID[16:], "stk-99999999"
	dead.Subnet, dead.Gateway = netip.MustParsePrefix("10.89.0.0/24"), netip.MustParseAddr("10.89.0.1")
	for _, n := range []*network.Network{live, dead} {
		if err := d.EnsureNetwork(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	running, killed := testEP(), testEP()
	killed.ContainerID, killed.ContainerName = "fedcba9876543210"+ctrID[16:], "gone"
	killed.Addr = netip.MustParsePrefix("10.88.0.3/24")
	killed.Ports = []network.PortMapping{{HostPort: freePort(t), ContainerPort: 80, Protocol: "tcp"}}
	h.out["ps -o jid= -p 4343"] = "8\n"
	if err := d.Attach(ctx, live, running, sb); err != nil {
		t.Fatal(err)
	}
	if err := d.Attach(ctx, live, killed, network.Sandbox{ContainerID: killed.ContainerID, Pid: 4343}); err != nil {
		t.Fatal(err)
	}
	// The monitor of "killed" died: its proxies with it, its host objects stay.
	d.stopProxies(endpointAnchor(live, killed))

	nets, attached := []*network.Network{live}, []*network.Endpoint{running}
	probs, err := d.Check(ctx, nets, attached, false)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range probs {
		got = append(got, p.What+": "+p.Issue)
		if p.Repaired {
			t.Errorf("repaired without repair: %+v", p)
		}
	}
	eq(t, "problems", got, []string{
		"interface stkefedcba9aaaa: epair of no running container",
		"interface stk-99999999: bridge of no network",
		"pf anchor stockade/ep-fedcba987654-aaaaaaaa: rules of no network or running container",
		"pf anchor stockade/net-999999999999: rules of no network or running container",
	})
	before := h.state()
	if _, err := d.Check(ctx, nets, attached, true); err != nil {
		t.Fatal(err)
	}
	after := h.state()
	for _, s := range []string{"if stkefedcba9aaaa@", "if stk-99999999@", "anchor stockade/ep-fedcba987654-aaaaaaaa", "anchor stockade/net-999999999999"} {
		if !slices.Contains(before, s) || slices.Contains(after, s) {
			t.Errorf("%s: before %v, after %v", s, slices.Contains(before, s), slices.Contains(after, s))
		}
	}
	eq(t, "what stays", after, []string{
		"anchor stockade/net-aaaaaaaaaaaa", "if eth0@7", "if stk-aaaaaaaa@", "if stke0123456aaaa@",
	})
	probs, err = d.Check(ctx, nets, attached, true)
	if err != nil || len(probs) != 0 {
		t.Errorf("after repair: %v %+v", err, probs)
	}
	d.Detach(ctx, live, running, sb)
}

// freePort returns a TCP and UDP port free on 0.0.0.0 right now.
func freePort(t *testing.T) uint16 {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp4", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		pc, err := net.ListenPacket("udp4", "0.0.0.0:"+itoaU(uint16(p)))
		if err == nil {
			pc.Close()
			return uint16(p)
		}
	}
	t.Fatal("no free port")
	return 0
}
