//go:build linux

package linux

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/stockade/stockade/internal/testenv"
	"github.com/stockade/stockade/network"
	"github.com/stockade/stockade/network/networktest"
)

// The tests run the driver against the real kernel, each in a network
// namespace of its own that stands in for the host's: nothing they make
// is visible outside it, and they send traffic only between namespaces
// they made.

func needRoot(t testing.TB) {
	t.Helper()
	testenv.RequireRoot(t, "the Linux driver's tests (network namespaces, bridges, nftables)")
}

// testHost is one test's stand-in for the host: a network namespace and
// a state directory.
type testHost struct {
	netns, state string
}

var (
	hostsMu sync.Mutex
	hosts   = map[testing.TB]*testHost{}
)

// hostFor returns t's host, making it on first use.
func hostFor(t testing.TB) *testHost {
	t.Helper()
	hostsMu.Lock()
	defer hostsMu.Unlock()
	if h := hosts[t]; h != nil {
		return h
	}
	dir := t.TempDir()
	h := &testHost{netns: filepath.Join(dir, "hostns"), state: filepath.Join(dir, "state")}
	if err := createNetNS(h.netns); err != nil {
		t.Fatal(err)
	}
	// The test host's own loopback, as any host has.
	if err := runInNS(h.netns, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	}); err != nil {
		t.Fatal(err)
	}
	hosts[t] = h
	t.Cleanup(func() {
		// Sandboxes left by a failed test go with the state directory;
		// their namespaces are unmounted first.
		entries, _ := os.ReadDir(filepath.Join(h.state, "netns"))
		for _, e := range entries {
			removeNetNS(filepath.Join(h.state, "netns", e.Name()))
		}
		removeNetNS(h.netns)
		hostsMu.Lock()
		delete(hosts, t)
		hostsMu.Unlock()
	})
	return h
}

func newTestDriver(t testing.TB) *Driver {
	t.Helper()
	needRoot(t)
	h := hostFor(t)
	d, err := New(Config{StateDir: h.state, HostNetNS: h.netns})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var subnetSeq struct {
	sync.Mutex
	n int
}

// testNetwork is a network with a unique name, id, bridge and subnets.
func testNetwork(t *testing.T, o networktest.NetworkOptions) *network.Network {
	return newTestNetwork(networktest.RandomID(t), o)
}

func newTestNetwork(id string, o networktest.NetworkOptions) *network.Network {
	subnetSeq.Lock()
	subnetSeq.n++
	k := subnetSeq.n
	subnetSeq.Unlock()
	n := &network.Network{
		Name: "t" + id[:8], ID: id, Driver: "bridge", Interface: "stk-" + id[:8],
		Subnet:   netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", 200+k/250, k%250)),
		Gateway:  netip.MustParseAddr(fmt.Sprintf("10.%d.%d.1", 200+k/250, k%250)),
		Internal: o.Internal,
	}
	if o.IPv6 {
		n.Subnet6 = netip.MustParsePrefix(fmt.Sprintf("fd00:5700:%x::/64", k))
		n.Gateway6 = netip.MustParseAddr(fmt.Sprintf("fd00:5700:%x::1", k))
	}
	return n
}

type probe struct{}

func (probe) driver(d network.Driver) *Driver { return d.(*Driver) }

func (p probe) HostInterface(t *testing.T, d network.Driver, name string) ([]netip.Prefix, bool) {
	return linkAddrs(t, p.driver(d).cfg.HostNetNS, name)
}

func (p probe) SandboxInterface(t *testing.T, d network.Driver, sb network.Sandbox, name string) ([]netip.Prefix, bool) {
	if !isNetNS(sb.NetNS) {
		return nil, false
	}
	return linkAddrs(t, sb.NetNS, name)
}

func (probe) SandboxGone(t *testing.T, d network.Driver, sb network.Sandbox) bool {
	_, err := os.Lstat(sb.NetNS)
	return os.IsNotExist(err)
}

func (p probe) Rules(t *testing.T, d network.Driver, n *network.Network, ep *network.Endpoint) int {
	dr := p.driver(d)
	owner := NetworkOwner(dr.inst, n)
	if ep != nil {
		owner = EndpointOwner(dr.inst, n, ep)
	}
	count := 0
	for _, r := range tableRules(t, dr.cfg.HostNetNS) {
		if ruleOwner(r) == owner {
			count++
		}
	}
	return count
}

// tableRules lists the rules of stockade's table in the namespace at path.
func tableRules(t *testing.T, path string) []*nftables.Rule {
	t.Helper()
	c := nftConnAt(t, path)
	var all []*nftables.Rule
	for _, ch := range Chains {
		rs, err := c.GetRules(table, baseChain(ch))
		if err != nil && !isNotFound(err) {
			t.Fatalf("list chain %s: %v", ch, err)
		}
		all = append(all, rs...)
	}
	return all
}

// handleAt returns a netlink handle in the namespace at path; its
// sockets hold the namespace until it is closed.
func handleAt(t *testing.T, path string) *netlink.Handle {
	t.Helper()
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// linkAddrs reads an interface's addresses in the namespace at path.
func linkAddrs(t *testing.T, path, name string) ([]netip.Prefix, bool) {
	t.Helper()
	h := handleAt(t, path)
	defer h.Close()
	l, err := h.LinkByName(name)
	if err != nil {
		return nil, false
	}
	as, err := h.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Prefix
	for _, a := range as {
		ip, _ := netip.AddrFromSlice(a.IP)
		ones, _ := a.Mask.Size()
		out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return out, true
}

func TestConformance(t *testing.T) {
	needRoot(t)
	networktest.Run(t, networktest.Config{
		New:     func(t *testing.T) network.Driver { return newTestDriver(t) },
		Network: testNetwork,
		Sandbox: func(t *testing.T, d network.Driver, id string) network.Sandbox {
			return network.Sandbox{ContainerID: id, NetNS: d.(*Driver).cfg.NetNSPath(id)}
		},
		Probe: probe{},
	})
}

// inNS runs fn on a thread in the namespace at path; the thread is
// thrown away afterwards.
func inNS(t *testing.T, path string, fn func() error) {
	t.Helper()
	if err := runInNS(path, fn); err != nil {
		t.Fatal(err)
	}
}

func runInNS(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := netns.GetFromPath(path)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("enter %s: %w", path, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// serve starts an HTTP server on port in the namespace at path; it
// answers "<name> saw <client address>".
func serve(t *testing.T, path, network, addr, name string) {
	t.Helper()
	var ln net.Listener
	inNS(t, path, func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s saw %s", name, r.RemoteAddr)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// get fetches http://addr/ from the namespace at path.
func get(path, addr string) (string, error) {
	var conn net.Conn
	err := runInNS(path, func() (err error) {
		conn, err = net.DialTimeout("tcp", addr, 2*time.Second)
		return err
	})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: x\r\n\r\n")
	b, err := io.ReadAll(conn)
	if err != nil {
		return "", err
	}
	_, body, _ := strings.Cut(string(b), "\r\n\r\n")
	return body, nil
}

func mustGet(t *testing.T, path, addr, want string) string {
	t.Helper()
	body, err := get(path, addr)
	if err != nil {
		t.Fatalf("GET %s: %v", addr, err)
	}
	if !strings.HasPrefix(body, want) {
		t.Fatalf("GET %s: %q, want %q...", addr, body, want)
	}
	return body
}

func mustNotGet(t *testing.T, path, addr string) {
	t.Helper()
	if body, err := get(path, addr); err == nil {
		t.Fatalf("GET %s answered %q; want no connection", addr, body)
	}
}

// container attaches a container with the given published ports and
// returns its endpoint and sandbox.
func container(t *testing.T, d *Driver, n *network.Network, i int, ports ...network.PortMapping) (*network.Endpoint, network.Sandbox) {
	t.Helper()
	id := networktest.RandomID(t)
	ep := &network.Endpoint{
		ContainerID: id, Network: n.Name, IfName: "eth0", HostIf: network.HostIfName(id),
		Addr:  netip.PrefixFrom(nthAddr(n.Subnet.Addr(), i), n.Subnet.Bits()),
		Ports: ports,
	}
	if n.Subnet6.IsValid() {
		ep.Addr6 = netip.PrefixFrom(nthAddr(n.Subnet6.Addr(), i), n.Subnet6.Bits())
	}
	sb := network.Sandbox{ContainerID: id, NetNS: d.cfg.NetNSPath(id)}
	if err := d.Attach(t.Context(), n, ep, sb); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Detach(t.Context(), n, ep, sb) })
	return ep, sb
}

func nthAddr(a netip.Addr, i int) netip.Addr {
	for range i {
		a = a.Next()
	}
	return a
}

func ensure(t *testing.T, d *Driver, o networktest.NetworkOptions) *network.Network {
	t.Helper()
	n := testNetwork(t, o)
	if err := d.EnsureNetwork(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.RemoveNetwork(t.Context(), n) })
	return n
}

// TestPublishedPorts fetches a container's published port from the host
// through 127.0.0.1, ::1 and the gateway, from another container on the
// same network (hairpin) and from the container itself.
func TestPublishedPorts(t *testing.T) {
	d := newTestDriver(t)
	host := hostFor(t)
	n := ensure(t, d, networktest.NetworkOptions{IPv6: true})
	web, webSB := container(t, d, n, 2, network.PortMapping{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"})
	serve(t, webSB.NetNS, "tcp", ":80", "web")
	_, otherSB := container(t, d, n, 3)

	for _, addr := range []string{"127.0.0.1:8080", "[::1]:8080", n.Gateway.String() + ":8080", "[" + n.Gateway6.String() + "]:8080"} {
		t.Run("host "+addr, func(t *testing.T) { mustGet(t, host.netns, addr, "web saw ") })
	}
	t.Run("container direct", func(t *testing.T) {
		mustGet(t, otherSB.NetNS, netip.AddrPortFrom(web.Addr.Addr(), 80).String(), "web saw "+nthAddr(n.Subnet.Addr(), 3).String())
	})
	t.Run("hairpin from another container", func(t *testing.T) {
		mustGet(t, otherSB.NetNS, n.Gateway.String()+":8080", "web saw ")
	})
	t.Run("hairpin to itself", func(t *testing.T) {
		mustGet(t, webSB.NetNS, n.Gateway.String()+":8080", "web saw ")
	})
	t.Run("no port without publishing", func(t *testing.T) {
		mustNotGet(t, host.netns, "127.0.0.1:8081")
	})
}

// TestHostIPBinding: a port bound to one host address answers there only.
func TestHostIPBinding(t *testing.T) {
	d := newTestDriver(t)
	host := hostFor(t)
	n := ensure(t, d, networktest.NetworkOptions{})
	_, sb := container(t, d, n, 2, network.PortMapping{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 9090, ContainerPort: 80, Protocol: "tcp"})
	serve(t, sb.NetNS, "tcp", ":80", "bound")
	mustGet(t, host.netns, "127.0.0.1:9090", "bound saw ")
	mustNotGet(t, host.netns, n.Gateway.String()+":9090")
}

// outside gives the test host an "outside" link: a veth to a namespace
// standing in for the world, 192.0.2.1 on its side, 192.0.2.2 on the
// host's, with a server on it.
func outside(t *testing.T, host *testHost) (world string, hostAddr netip.Addr) {
	t.Helper()
	world = filepath.Join(t.TempDir(), "world")
	if err := createNetNS(world); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeNetNS(world) })
	wns, err := netns.GetFromPath(world)
	if err != nil {
		t.Fatal(err)
	}
	defer wns.Close()
	inNS(t, host.netns, func() error {
		la := netlink.NewLinkAttrs()
		la.Name = "uplink"
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(wns))}); err != nil {
			return err
		}
		l, err := netlink.LinkByName("uplink")
		if err != nil {
			return err
		}
		if err := netlink.AddrAdd(l, addr(netip.MustParsePrefix("192.0.2.2/24"))); err != nil {
			return err
		}
		return netlink.LinkSetUp(l)
	})
	inNS(t, world, func() error {
		for _, name := range []string{"lo", "eth0"} {
			l, err := netlink.LinkByName(name)
			if err != nil {
				return err
			}
			if name == "eth0" {
				if err := netlink.AddrAdd(l, addr(netip.MustParsePrefix("192.0.2.1/24"))); err != nil {
					return err
				}
			}
			if err := netlink.LinkSetUp(l); err != nil {
				return err
			}
		}
		return nil
	})
	serve(t, world, "tcp", "192.0.2.1:80", "world")
	return world, netip.MustParseAddr("192.0.2.2")
}

// TestOutboundIsolationInternal: a container reaches the world through
// the host's NAT (the world sees the host's address) and a server on the
// host side of its bridge; an internal network's container reaches
// neither the world nor another network; two networks do not reach each
// other.
func TestOutboundIsolationInternal(t *testing.T) {
	d := newTestDriver(t)
	host := hostFor(t)
	_, hostAddr := outside(t, host)
	a := ensure(t, d, networktest.NetworkOptions{})
	b := ensure(t, d, networktest.NetworkOptions{})
	internal := ensure(t, d, networktest.NetworkOptions{Internal: true})
	_, aSB := container(t, d, a, 2)
	bEP, bSB := container(t, d, b, 2)
	serve(t, bSB.NetNS, "tcp", ":80", "b")
	_, iSB := container(t, d, internal, 2)
	serve(t, host.netns, "tcp", a.Gateway.String()+":7000", "host-a")
	serve(t, host.netns, "tcp", internal.Gateway.String()+":7000", "host-internal")

	t.Run("masquerade out", func(t *testing.T) {
		mustGet(t, aSB.NetNS, "192.0.2.1:80", "world saw "+hostAddr.String()+":")
	})
	t.Run("host side of the bridge", func(t *testing.T) {
		mustGet(t, aSB.NetNS, a.Gateway.String()+":7000", "host-a saw "+nthAddr(a.Subnet.Addr(), 2).String())
	})
	t.Run("networks isolated", func(t *testing.T) {
		mustNotGet(t, aSB.NetNS, netip.AddrPortFrom(bEP.Addr.Addr(), 80).String())
	})
	t.Run("internal has no route out", func(t *testing.T) {
		_, err := get(iSB.NetNS, "192.0.2.1:80")
		if err == nil || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("internal container to the world: %v, want network unreachable", err)
		}
		mustNotGet(t, iSB.NetNS, a.Gateway.String()+":7000")
	})
	t.Run("internal reaches its gateway", func(t *testing.T) {
		mustGet(t, iSB.NetNS, internal.Gateway.String()+":7000", "host-internal saw ")
	})
}

// TestAttachAfterReboot: Attach on a host whose bridge and rules are gone
// (a reboot) makes the network again. The network is IPv4 only: [::1]
// reaches the container through the proxy all the same, until Detach.
func TestAttachAfterReboot(t *testing.T) {
	d := newTestDriver(t)
	host := hostFor(t)
	n := testNetwork(t, networktest.NetworkOptions{})
	t.Cleanup(func() { d.RemoveNetwork(t.Context(), n) })
	ep, sb := container(t, d, n, 2, network.PortMapping{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"})
	serve(t, sb.NetNS, "tcp", ":80", "web")
	mustGet(t, host.netns, "127.0.0.1:8080", "web saw ")
	mustGet(t, host.netns, "[::1]:8080", "web saw "+n.Gateway.String())
	if err := d.Detach(t.Context(), n, ep, sb); err != nil {
		t.Fatal(err)
	}
	mustNotGet(t, host.netns, "[::1]:8080")
	mustNotGet(t, host.netns, "127.0.0.1:8080")
}

// BenchmarkAttachDetach is the driver's own cost per container on the
// real kernel: Attach (namespace, veth, addresses, routes, two published
// ports: four DNAT rules and a [::1] proxy) and Detach, on a network that
// already has b.N containers' worth of history.
func BenchmarkAttachDetach(b *testing.B) {
	d, n := benchNetwork(b)
	var attach, detach time.Duration
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("%064x", i+1)
		ep := &network.Endpoint{ContainerID: id, Network: n.Name, IfName: "eth0", HostIf: network.HostIfName(id),
			Addr: netip.PrefixFrom(nthAddr(n.Subnet.Addr(), 2+i%200), n.Subnet.Bits()),
			Ports: []network.PortMapping{
				{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
				{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 5353, ContainerPort: 53, Protocol: "udp"},
			}}
		sb := network.Sandbox{ContainerID: id, NetNS: d.cfg.NetNSPath(id)}
		t0 := time.Now()
		if err := d.Attach(b.Context(), n, ep, sb); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := d.Detach(b.Context(), n, ep, sb); err != nil {
			b.Fatal(err)
		}
		attach += t1.Sub(t0)
		detach += time.Since(t1)
	}
	// ns/op also counts the kernel's background work (namespaces and
	// veths freed after Detach returned) competing for the CPUs.
	b.ReportMetric(float64(attach.Microseconds())/1000/float64(b.N), "attach-ms/op")
	b.ReportMetric(float64(detach.Microseconds())/1000/float64(b.N), "detach-ms/op")
}

// TestPreflightSeesForwardDrop: a forward chain of another table whose
// policy drops is found (Preflight warns about it).
func TestPreflightSeesForwardDrop(t *testing.T) {
	d := newTestDriver(t)
	h, err := d.open()
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	chains, err := h.nft.c.ListChains()
	if err != nil {
		t.Fatal(err)
	}
	if c := forwardDropper(chains); c != "" {
		t.Fatalf("a fresh namespace has a dropping forward chain: %s", c)
	}
	other := &nftables.Table{Name: "filter", Family: nftables.TableFamilyIPv4}
	drop := nftables.ChainPolicyDrop
	h.nft.c.AddTable(other)
	h.nft.c.AddChain(&nftables.Chain{Name: "FORWARD", Table: other, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &drop})
	if err := h.nft.flush(); err != nil {
		t.Fatal(err)
	}
	if chains, err = h.nft.c.ListChains(); err != nil {
		t.Fatal(err)
	}
	if c := forwardDropper(chains); c != "ip filter FORWARD" {
		t.Errorf("forwardDropper = %q, want ip filter FORWARD", c)
	}
	if err := d.Preflight(t.Context(), nil); err != nil {
		t.Errorf("Preflight: %v", err)
	}
}

// TestPublishedUDP: a published UDP port answers from the host through
// 127.0.0.1 (nftables) and [::1] (the proxy).
func TestPublishedUDP(t *testing.T) {
	d := newTestDriver(t)
	host := hostFor(t)
	n := ensure(t, d, networktest.NetworkOptions{IPv6: true})
	_, sb := container(t, d, n, 2, network.PortMapping{HostPort: 5353, ContainerPort: 53, Protocol: "udp"})
	var pc net.PacketConn
	inNS(t, sb.NetNS, func() (err error) {
		pc, err = net.ListenPacket("udp", ":53")
		return err
	})
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte("echo "), buf[:n]...), from)
		}
	}()
	for _, addr := range []string{"127.0.0.1:5353", "[::1]:5353"} {
		t.Run(addr, func(t *testing.T) {
			var got string
			err := runInNS(host.netns, func() error {
				c, err := net.Dial("udp", addr)
				if err != nil {
					return err
				}
				defer c.Close()
				buf := make([]byte, 512)
				// The first datagram may race the proxy's or the rules'
				// readiness: ask a few times.
				for range 5 {
					c.Write([]byte("ping"))
					c.SetReadDeadline(time.Now().Add(time.Second))
					if n, err := c.Read(buf); err == nil {
						got = string(buf[:n])
						return nil
					}
				}
				return fmt.Errorf("no answer")
			})
			if err != nil || got != "echo ping" {
				t.Fatalf("UDP %s: %q, %v", addr, got, err)
			}
		})
	}
}

// TestCheckOnFreshHost: a host where stockade never made a network (no
// table inet stockade) has nothing to report, and no error: `system check`
// on a new machine must work.
func TestCheckOnFreshHost(t *testing.T) {
	d := newTestDriver(t)
	problems, err := d.Check(t.Context(), nil, nil, true)
	if err != nil || len(problems) != 0 {
		t.Fatalf("Check on a fresh host: %v, %v", problems, err)
	}
	// Removing a network that was never made is no error either (rm after
	// a crash before its first start).
	n := testNetwork(t, networktest.NetworkOptions{})
	if err := d.RemoveNetwork(t.Context(), n); err != nil {
		t.Fatalf("RemoveNetwork on a fresh host: %v", err)
	}
}

// TestDetachTwice: a container is detached at its stop and again at its
// removal. The second Detach finds the namespace dropped and leaves the
// veth pair to the kernel, which deletes it with the namespace (deleting
// it there waited for an RCU grace period on every `run --rm`'s removal);
// a host end whose peer is on the host too, as a failed Attach leaves
// it, is deleted.
func TestDetachTwice(t *testing.T) {
	d := newTestDriver(t)
	host := hostFor(t)
	n := ensure(t, d, networktest.NetworkOptions{})
	ep, sb := container(t, d, n, 2)
	hostIf := hostIfName(n, ep)
	// The test's own reference keeps the namespace, and so its pair,
	// after the first Detach drops the namespace's mount: what the
	// second Detach does with the pair is then seen.
	ns, err := netns.GetFromPath(sb.NetNS)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := d.Detach(t.Context(), n, ep, sb); err != nil {
			ns.Close()
			t.Fatalf("Detach %d: %v", i+1, err)
		}
	}
	_, found := linkAddrs(t, host.netns, hostIf)
	ns.Close()
	if !found {
		t.Fatalf("the second Detach deleted %s, whose peer is in the container's namespace", hostIf)
	}
	// The kernel deletes the pair once the namespace is gone.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, found := linkAddrs(t, host.netns, hostIf); !found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still there 10 s after its namespace was released", hostIf)
		}
	}

	// A pair whose two ends are on the host, and no namespace.
	id := networktest.RandomID(t)
	stranded := &network.Endpoint{ContainerID: id, Network: n.Name, IfName: "eth0", HostIf: network.HostIfName(id),
		Addr: netip.PrefixFrom(nthAddr(n.Subnet.Addr(), 3), n.Subnet.Bits())}
	strandedIf := hostIfName(n, stranded)
	h := handleAt(t, host.netns)
	defer h.Close()
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: strandedIf}, PeerName: "stq" + id[:8]}); err != nil {
		t.Fatal(err)
	}
	if err := d.Detach(t.Context(), n, stranded, network.Sandbox{ContainerID: id, NetNS: d.cfg.NetNSPath(id)}); err != nil {
		t.Fatal(err)
	}
	if _, found := linkAddrs(t, host.netns, strandedIf); found {
		t.Errorf("Detach left %s, whose peer is on the host", strandedIf)
	}
}

// TestEnsureNetworkRepairsTable: EnsureNetwork of a network whose table
// is complete leaves it so; one whose base chain another program changed
// (a policy of drop) or deleted gets it back as stockade defines it,
// rules and all.
func TestEnsureNetworkRepairsTable(t *testing.T) {
	d := newTestDriver(t)
	host := hostFor(t)
	n := testNetwork(t, networktest.NetworkOptions{})
	t.Cleanup(func() { d.RemoveNetwork(t.Context(), n) })
	ensure := func() {
		t.Helper()
		if err := d.EnsureNetwork(t.Context(), n); err != nil {
			t.Fatal(err)
		}
	}
	ensure()
	rules := len(tableRules(t, host.netns))
	c := nftConnAt(t, host.netns)
	for _, tt := range []struct {
		name  string
		spoil func()
	}{
		{"nothing changed", func() {}},
		{"forward policy drop", func() {
			drop := nftables.ChainPolicyDrop
			ch := baseChain(Forward)
			ch.Policy = &drop
			c.AddChain(ch)
		}},
		{"postrouting deleted", func() {
			ch := baseChain(Postrouting)
			c.FlushChain(ch)
			c.DelChain(ch)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.spoil()
			if err := c.Flush(); err != nil {
				t.Fatal(err)
			}
			ensure()
			chains, err := c.ListChainsOfTableFamily(table.Family)
			if err != nil {
				t.Fatal(err)
			}
			if !hasBaseChains(chains) {
				t.Errorf("base chains after EnsureNetwork: %v", chainNames(chains))
			}
			if got := len(tableRules(t, host.netns)); got != rules {
				t.Errorf("%d rules after EnsureNetwork, want %d", got, rules)
			}
		})
	}
}

// TestHasBaseChains: stockade's chains are there only when each has its
// type, hook, priority and policy, in stockade's table.
func TestHasBaseChains(t *testing.T) {
	other := &nftables.Table{Name: "other", Family: nftables.TableFamilyINet}
	// with returns stockade's chains, which changed by edit (a chain
	// whose name edit clears is left out).
	with := func(which Chain, edit func(ch *nftables.Chain)) []*nftables.Chain {
		var out []*nftables.Chain
		for _, c := range Chains {
			ch := baseChain(c)
			if c == which || which == "" {
				edit(ch)
			}
			if ch.Name != "" {
				out = append(out, ch)
			}
		}
		return out
	}
	unchanged := func(*nftables.Chain) {}
	drop := nftables.ChainPolicyDrop
	prio := *nftables.ChainPriorityFilter + 1
	for _, tt := range []struct {
		name   string
		chains []*nftables.Chain
		want   bool
	}{
		{"all", with(Forward, unchanged), true},
		{"all, with others' chains", append(with(Forward, unchanged), &nftables.Chain{Name: "forward", Table: other}), true},
		{"none", nil, false},
		{"one missing", with(Output, func(ch *nftables.Chain) { ch.Name = "" }), false},
		{"policy drop", with(Forward, func(ch *nftables.Chain) { ch.Policy = &drop }), false},
		{"no policy", with(Forward, func(ch *nftables.Chain) { ch.Policy = nil }), false},
		{"other priority", with(Forward, func(ch *nftables.Chain) { ch.Priority = &prio }), false},
		{"other type", with(Prerouting, func(ch *nftables.Chain) { ch.Type = nftables.ChainTypeFilter }), false},
		{"other hook", with(Output, func(ch *nftables.Chain) { ch.Hooknum = nftables.ChainHookInput }), false},
		{"in another table", with("", func(ch *nftables.Chain) { ch.Table = other }), false},
	} {
		if got := hasBaseChains(tt.chains); got != tt.want {
			t.Errorf("%s: hasBaseChains = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// BenchmarkEnsureNetwork is what every networked start pays to make sure
// its network is there: a network that is.
func BenchmarkEnsureNetwork(b *testing.B) {
	d, n := benchNetwork(b)
	for b.Loop() {
		if err := d.EnsureNetwork(b.Context(), n); err != nil {
			b.Fatal(err)
		}
	}
}

// benchNetwork returns a driver and a network of its own, made; the
// network is removed at the benchmark's end.
func benchNetwork(b *testing.B) (*Driver, *network.Network) {
	b.Helper()
	d := newTestDriver(b)
	n := newTestNetwork(fmt.Sprintf("%064x", time.Now().UnixNano()), networktest.NetworkOptions{})
	if err := d.EnsureNetwork(b.Context(), n); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.RemoveNetwork(context.Background(), n) })
	return d, n
}

// nftConnAt returns an nftables connection in the namespace at path; the
// namespace's descriptor, which it uses for every request, is closed at
// the test's end.
func nftConnAt(t *testing.T, path string) *nftables.Conn {
	t.Helper()
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func chainNames(chains []*nftables.Chain) []string {
	var out []string
	for _, c := range chains {
		out = append(out, c.Table.Name+"/"+c.Name)
	}
	return out
}
