// Package networktest is the conformance suite every network.Driver runs
// from its own tests, against the real system where it can (Linux: real
// bridges, veths, namespaces and nftables) or against a recording fake
// where it cannot:
//
//	func TestConformance(t *testing.T) {
//		networktest.Run(t, networktest.Config{
//			New:      func(t *testing.T) network.Driver { ... },
//			Network:  func(t *testing.T, o networktest.NetworkOptions) *network.Network { ... },
//			Sandbox:  func(t *testing.T, d network.Driver, containerID string) network.Sandbox { ... },
//			Probe:    probe,
//		})
//	}
//
// The suite makes networks and endpoints, drives the driver through its
// lifecycle and asks the Probe what is on the system afterwards: the
// interfaces and their addresses, the rules of each network and endpoint,
// the sandboxes. Every subtest gets a fresh driver from New; a driver's
// test makes New return drivers that see only what the subtest made (on
// Linux: a network namespace of its own standing in for the host's).
package networktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/network"
)

// Probe observes what a driver did to the system.
type Probe interface {
	// HostInterface reports whether the host interface name exists and its
	// addresses.
	HostInterface(t *testing.T, d network.Driver, name string) (addrs []netip.Prefix, ok bool)
	// SandboxInterface reports whether the interface name exists in the
	// sandbox and its addresses; ok is false when the sandbox is gone.
	SandboxInterface(t *testing.T, d network.Driver, sb network.Sandbox, name string) (addrs []netip.Prefix, ok bool)
	// SandboxGone reports whether the driver's part of the sandbox (a
	// network namespace it made) is gone; a driver that makes none
	// returns true.
	SandboxGone(t *testing.T, d network.Driver, sb network.Sandbox) bool
	// Rules counts the driver's rules (NAT, filter, port forwarding) that
	// belong to network n when ep is nil, or to endpoint ep on n.
	Rules(t *testing.T, d network.Driver, n *network.Network, ep *network.Endpoint) int
}

// NetworkOptions are what a subtest needs of a network.
type NetworkOptions struct {
	Internal bool
	IPv6     bool
}

// Config is the driver under test and how to observe it.
type Config struct {
	// New returns a driver; each subtest calls it once, or twice to look
	// at the same system through a second driver (a restarted process).
	New func(t *testing.T) network.Driver
	// Network returns a network with a unique name, id, interface and
	// subnets (a /24, and a /64 with IPv6), not yet made real; the suite
	// removes it with RemoveNetwork.
	Network func(t *testing.T, o NetworkOptions) *network.Network
	// Sandbox returns the sandbox of a new container for driver d.
	Sandbox func(t *testing.T, d network.Driver, containerID string) network.Sandbox
	// HostIf names the host end of an endpoint as the model would
	// (network.HostIfName when nil).
	HostIf func(containerID string) string
	Probe  Probe
}

// Run runs the suite.
func Run(t *testing.T, cfg Config) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *suite)
	}{
		{"NetworkLifecycle", testNetworkLifecycle},
		{"NetworkIPv6", testNetworkIPv6},
		{"AttachDetach", testAttachDetach},
		{"AttachIPv6", testAttachIPv6},
		{"DetachLeavesOthers", testDetachLeavesOthers},
		{"Internal", testInternal},
		{"Spec", testSpec},
		{"CheckRepairsEndpoints", testCheckEndpoints},
		{"CheckRepairsNetworks", testCheckNetworks},
		{"CheckAfterRestart", testCheckAfterRestart},
		{"BadEndpoint", testBadEndpoint},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, &suite{cfg: cfg, d: cfg.New(t), p: cfg.Probe})
		})
	}
}

type suite struct {
	cfg Config
	d   network.Driver
	p   Probe
}

var ctx = context.Background()

// network makes a network real and removes it when the test ends.
func (s *suite) network(t *testing.T, o NetworkOptions) *network.Network {
	t.Helper()
	n := s.cfg.Network(t, o)
	if err := s.d.Preflight(ctx, n); err != nil {
		t.Fatalf("Preflight: %v", err)
	}
	if err := s.d.EnsureNetwork(ctx, n); err != nil {
		t.Fatalf("EnsureNetwork %s: %v", n.Name, err)
	}
	t.Cleanup(func() { s.d.RemoveNetwork(ctx, n) })
	return n
}

// endpoint is container number i of n, with two published ports.
func (s *suite) endpoint(t *testing.T, n *network.Network, i int) (*network.Endpoint, network.Sandbox) {
	t.Helper()
	id := randomID(t)
	hostIf := network.HostIfName
	if s.cfg.HostIf != nil {
		hostIf = s.cfg.HostIf
	}
	ep := &network.Endpoint{
		ContainerID: id, ContainerName: "c" + id[:6], Network: n.Name,
		IfName: "eth0", HostIf: hostIf(id), MAC: mac(i),
		Addr: netip.PrefixFrom(nth(n.Subnet.Addr(), 10+i), n.Subnet.Bits()),
		Ports: []network.PortMapping{
			{HostPort: uint16(20000 + i), ContainerPort: 80, Protocol: "tcp"},
			{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: uint16(21000 + i), ContainerPort: 53, Protocol: "udp"},
		},
	}
	if n.Subnet6.IsValid() {
		ep.Addr6 = netip.PrefixFrom(nth(n.Subnet6.Addr(), 10+i), n.Subnet6.Bits())
	}
	return ep, s.cfg.Sandbox(t, s.d, id)
}

func (s *suite) attach(t *testing.T, n *network.Network, ep *network.Endpoint, sb network.Sandbox) {
	t.Helper()
	if err := s.d.Attach(ctx, n, ep, sb); err != nil {
		t.Fatalf("Attach: %v", err)
	}
	t.Cleanup(func() { s.d.Detach(ctx, n, ep, sb) })
}

// wantHost checks that the host interface exists with the addresses want.
func (s *suite) wantHost(t *testing.T, name string, want ...netip.Prefix) {
	t.Helper()
	addrs, ok := s.p.HostInterface(t, s.d, name)
	if !ok {
		t.Fatalf("host interface %s is missing", name)
	}
	for _, w := range want {
		if !slices.Contains(addrs, w) {
			t.Errorf("host interface %s has %v, want %s among them", name, addrs, w)
		}
	}
}

// wantNoHost checks that the host interface is gone, within goneWithin:
// a kernel may finish deleting it in the background (Linux deletes a veth
// pair with its namespace).
func (s *suite) wantNoHost(t *testing.T, name string) {
	t.Helper()
	deadline := time.Now().Add(goneWithin)
	for {
		if _, ok := s.p.HostInterface(t, s.d, name); !ok {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("host interface %s is still there after %s", name, goneWithin)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// goneWithin is how long a removed interface may take to go.
const goneWithin = 5 * time.Second

// wantEndpoint checks the endpoint's both ends.
func (s *suite) wantEndpoint(t *testing.T, n *network.Network, ep *network.Endpoint, sb network.Sandbox) {
	t.Helper()
	s.wantHost(t, ep.HostIf)
	addrs, ok := s.p.SandboxInterface(t, s.d, sb, ep.IfName)
	if !ok {
		t.Fatalf("%s is missing in the sandbox of %s", ep.IfName, ep.ContainerID[:12])
	}
	for _, w := range []netip.Prefix{ep.Addr, ep.Addr6} {
		if w.IsValid() && !slices.Contains(addrs, w) {
			t.Errorf("%s in the sandbox has %v, want %s among them", ep.IfName, addrs, w)
		}
	}
	if got := s.p.Rules(t, s.d, n, ep); got == 0 {
		t.Errorf("endpoint %s has no rules for its published ports", ep.ContainerID[:12])
	}
}

func (s *suite) wantNoEndpoint(t *testing.T, n *network.Network, ep *network.Endpoint, sb network.Sandbox) {
	t.Helper()
	s.wantNoHost(t, ep.HostIf)
	if got := s.p.Rules(t, s.d, n, ep); got != 0 {
		t.Errorf("endpoint %s still has %d rules", ep.ContainerID[:12], got)
	}
	if !s.p.SandboxGone(t, s.d, sb) {
		t.Errorf("the sandbox of %s is still there", ep.ContainerID[:12])
	}
}

func testNetworkLifecycle(t *testing.T, s *suite) {
	n := s.network(t, NetworkOptions{})
	s.wantHost(t, n.Interface, netip.PrefixFrom(n.Gateway, n.Subnet.Bits()))
	rules := s.p.Rules(t, s.d, n, nil)
	if rules == 0 {
		t.Fatalf("network %s has no rules", n.Name)
	}
	if err := s.d.EnsureNetwork(ctx, n); err != nil {
		t.Fatalf("EnsureNetwork again: %v", err)
	}
	if got := s.p.Rules(t, s.d, n, nil); got != rules {
		t.Errorf("EnsureNetwork again: %d rules, want %d as before", got, rules)
	}
	if err := s.d.RemoveNetwork(ctx, n); err != nil {
		t.Fatalf("RemoveNetwork: %v", err)
	}
	s.wantNoHost(t, n.Interface)
	if got := s.p.Rules(t, s.d, n, nil); got != 0 {
		t.Errorf("after RemoveNetwork: %d rules of the network left", got)
	}
	if err := s.d.RemoveNetwork(ctx, n); err != nil {
		t.Errorf("RemoveNetwork again: %v", err)
	}
	// A removed network comes back whole.
	if err := s.d.EnsureNetwork(ctx, n); err != nil {
		t.Fatalf("EnsureNetwork after RemoveNetwork: %v", err)
	}
	if got := s.p.Rules(t, s.d, n, nil); got != rules {
		t.Errorf("EnsureNetwork after RemoveNetwork: %d rules, want %d", got, rules)
	}
}

func testNetworkIPv6(t *testing.T, s *suite) {
	n4 := s.network(t, NetworkOptions{})
	n := s.network(t, NetworkOptions{IPv6: true})
	if !n.Subnet6.IsValid() || !n.Gateway6.IsValid() {
		t.Fatalf("Config.Network gave no IPv6 subnet and gateway: %+v", n)
	}
	s.wantHost(t, n.Interface, netip.PrefixFrom(n.Gateway, n.Subnet.Bits()), netip.PrefixFrom(n.Gateway6, n.Subnet6.Bits()))
	if got, v4 := s.p.Rules(t, s.d, n, nil), s.p.Rules(t, s.d, n4, nil); got <= v4 {
		t.Errorf("a dual-stack network has %d rules, no more than an IPv4 one (%d)", got, v4)
	}
}

func testAttachDetach(t *testing.T, s *suite) {
	n := s.network(t, NetworkOptions{})
	ep, sb := s.endpoint(t, n, 0)
	s.attach(t, n, ep, sb)
	s.wantEndpoint(t, n, ep, sb)
	rules := s.p.Rules(t, s.d, n, ep)
	if err := s.d.Attach(ctx, n, ep, sb); err != nil {
		t.Fatalf("Attach again: %v", err)
	}
	s.wantEndpoint(t, n, ep, sb)
	if got := s.p.Rules(t, s.d, n, ep); got != rules {
		t.Errorf("Attach again: %d rules, want %d as before", got, rules)
	}
	if err := s.d.Detach(ctx, n, ep, sb); err != nil {
		t.Fatalf("Detach: %v", err)
	}
	s.wantNoEndpoint(t, n, ep, sb)
	if err := s.d.Detach(ctx, n, ep, sb); err != nil {
		t.Errorf("Detach again: %v", err)
	}
	// The network is untouched by its endpoints' going.
	s.wantHost(t, n.Interface, netip.PrefixFrom(n.Gateway, n.Subnet.Bits()))
	if s.p.Rules(t, s.d, n, nil) == 0 {
		t.Errorf("Detach took the network's rules")
	}
	// Attach again after Detach: the same container restarted.
	sb = s.cfg.Sandbox(t, s.d, ep.ContainerID)
	s.attach(t, n, ep, sb)
	s.wantEndpoint(t, n, ep, sb)
}

func testAttachIPv6(t *testing.T, s *suite) {
	n := s.network(t, NetworkOptions{IPv6: true})
	ep, sb := s.endpoint(t, n, 1)
	s.attach(t, n, ep, sb)
	s.wantEndpoint(t, n, ep, sb)
	v6 := s.p.Rules(t, s.d, n, ep)
	n4 := s.network(t, NetworkOptions{})
	ep4, sb4 := s.endpoint(t, n4, 11) // other host ports: a driver may bind them (a proxy)
	s.attach(t, n4, ep4, sb4)
	if v4 := s.p.Rules(t, s.d, n4, ep4); v6 <= v4 {
		t.Errorf("published ports of a dual-stack endpoint have %d rules, no more than IPv4 only (%d)", v6, v4)
	}
}

func testDetachLeavesOthers(t *testing.T, s *suite) {
	n := s.network(t, NetworkOptions{})
	ep1, sb1 := s.endpoint(t, n, 1)
	ep2, sb2 := s.endpoint(t, n, 2)
	s.attach(t, n, ep1, sb1)
	s.attach(t, n, ep2, sb2)
	r2 := s.p.Rules(t, s.d, n, ep2)
	if err := s.d.Detach(ctx, n, ep1, sb1); err != nil {
		t.Fatal(err)
	}
	s.wantNoEndpoint(t, n, ep1, sb1)
	s.wantEndpoint(t, n, ep2, sb2)
	if got := s.p.Rules(t, s.d, n, ep2); got != r2 {
		t.Errorf("Detach of another endpoint changed this one's rules: %d, want %d", got, r2)
	}
}

func testInternal(t *testing.T, s *suite) {
	n := s.network(t, NetworkOptions{Internal: true})
	if !n.Internal {
		t.Fatal("Config.Network ignored Internal")
	}
	if s.p.Rules(t, s.d, n, nil) == 0 {
		t.Errorf("an internal network has no rules (it needs its isolation)")
	}
	ep, sb := s.endpoint(t, n, 3)
	s.attach(t, n, ep, sb)
	s.wantEndpoint(t, n, ep, sb)
}

func testSpec(t *testing.T, s *suite) {
	n := s.network(t, NetworkOptions{})
	ep, sb := s.endpoint(t, n, 4)
	spec := &specs.Spec{Linux: &specs.Linux{}}
	if err := s.d.Spec(ep, sb, spec); err != nil {
		t.Fatalf("Spec: %v", err)
	}
	again := &specs.Spec{Linux: &specs.Linux{}}
	s.d.Spec(ep, sb, again)
	if err := s.d.Spec(ep, sb, again); err != nil {
		t.Fatalf("Spec again: %v", err)
	}
	if s.d.AttachPhase() == network.BeforeCreate {
		var paths []string
		for _, ns := range again.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				paths = append(paths, ns.Path)
			}
		}
		if len(paths) != 1 || paths[0] != sb.NetNS {
			t.Errorf("Spec twice: network namespaces %v, want one at %s", paths, sb.NetNS)
		}
	}
}

// problemsAbout returns the problems whose What names name.
func problemsAbout(ps []network.Problem, name string) []network.Problem {
	var out []network.Problem
	for _, p := range ps {
		if strings.Contains(p.What, name) {
			out = append(out, p)
		}
	}
	return out
}

func testCheckEndpoints(t *testing.T, s *suite) {
	n := s.network(t, NetworkOptions{})
	keep, sbKeep := s.endpoint(t, n, 5)
	lost, sbLost := s.endpoint(t, n, 6)
	s.attach(t, n, keep, sbKeep)
	s.attach(t, n, lost, sbLost)
	nets := []*network.Network{n}

	ps, err := s.d.Check(ctx, nets, []*network.Endpoint{keep, lost}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 0 {
		t.Fatalf("Check with everything accounted for: %+v", ps)
	}
	ps, err = s.d.Check(ctx, nets, []*network.Endpoint{keep}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(problemsAbout(ps, lost.HostIf)) == 0 {
		t.Errorf("Check did not report the veth of a container that is not running: %+v", ps)
	}
	if len(problemsAbout(ps, keep.HostIf)) != 0 || len(problemsAbout(ps, keep.ContainerID)) != 0 {
		t.Errorf("Check reported a running container's endpoint: %+v", ps)
	}
	for _, p := range ps {
		if p.Repaired {
			t.Errorf("Check without repair repaired %+v", p)
		}
	}
	s.wantEndpoint(t, n, lost, sbLost) // reported, not removed

	ps, err = s.d.Check(ctx, nets, []*network.Endpoint{keep}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) == 0 {
		t.Fatal("Check with repair found nothing")
	}
	for _, p := range ps {
		if !p.Repaired || p.Error != "" {
			t.Errorf("not repaired: %+v", p)
		}
	}
	s.wantNoEndpoint(t, n, lost, sbLost)
	s.wantEndpoint(t, n, keep, sbKeep)
	if ps, err := s.d.Check(ctx, nets, []*network.Endpoint{keep}, false); err != nil || len(ps) != 0 {
		t.Errorf("Check after repair: %+v, %v", ps, err)
	}
}

func testCheckNetworks(t *testing.T, s *suite) {
	keep := s.network(t, NetworkOptions{})
	gone := s.network(t, NetworkOptions{IPv6: true})
	ep, sb := s.endpoint(t, gone, 7)
	s.attach(t, gone, ep, sb)

	ps, err := s.d.Check(ctx, []*network.Network{keep}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(problemsAbout(ps, gone.Interface)) == 0 {
		t.Errorf("Check did not report the bridge of a network that is gone: %+v", ps)
	}
	if len(problemsAbout(ps, keep.Interface)) != 0 || len(problemsAbout(ps, keep.ID)) != 0 {
		t.Errorf("Check reported a network that exists: %+v", ps)
	}
	s.wantNoHost(t, gone.Interface)
	if got := s.p.Rules(t, s.d, gone, nil); got != 0 {
		t.Errorf("%d rules of the removed network left", got)
	}
	s.wantNoEndpoint(t, gone, ep, sb)
	s.wantHost(t, keep.Interface, netip.PrefixFrom(keep.Gateway, keep.Subnet.Bits()))
	if s.p.Rules(t, s.d, keep, nil) == 0 {
		t.Errorf("Check removed the rules of a network that exists")
	}
	if ps, err := s.d.Check(ctx, []*network.Network{keep}, nil, false); err != nil || len(ps) != 0 {
		t.Errorf("Check after repair: %+v, %v", ps, err)
	}
}

// testCheckAfterRestart: a second driver on the same system (the process
// that attached was killed) finds the first one's leftovers.
func testCheckAfterRestart(t *testing.T, s *suite) {
	n := s.network(t, NetworkOptions{})
	ep, sb := s.endpoint(t, n, 8)
	s.attach(t, n, ep, sb)
	d2 := s.cfg.New(t)
	ps, err := d2.Check(ctx, []*network.Network{n}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(problemsAbout(ps, ep.HostIf)) == 0 {
		t.Errorf("a new driver's Check did not find the endpoint: %+v", ps)
	}
	s.wantNoEndpoint(t, n, ep, sb)
}

// testBadEndpoint: an Attach that fails leaves nothing behind.
func testBadEndpoint(t *testing.T, s *suite) {
	n := s.network(t, NetworkOptions{})
	ep, sb := s.endpoint(t, n, 9)
	ep.Ports = append(ep.Ports, network.PortMapping{HostPort: 1, ContainerPort: 1, Protocol: "sctp-or-so"})
	if err := s.d.Attach(ctx, n, ep, sb); err == nil {
		s.d.Detach(ctx, n, ep, sb)
		t.Fatal("Attach with a port of an unknown protocol succeeded")
	}
	s.wantNoEndpoint(t, n, ep, sb)
}

func randomID(t *testing.T) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// RandomID returns a random 64-hex-digit id for networks and containers.
func RandomID(t *testing.T) string { return randomID(t) }

func mac(i int) string {
	return "02:5e:00:00:00:" + hex.EncodeToString([]byte{byte(i + 1)})
}

// nth is the address i after a.
func nth(a netip.Addr, i int) netip.Addr {
	for range i {
		a = a.Next()
	}
	return a
}
