//go:build linux

package linux

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/internal/flock"
	"github.com/stockade/stockade/network"
	"github.com/stockade/stockade/network/proxy"
)

// Driver is the Linux network driver.
type Driver struct {
	cfg  Config
	inst string

	// proxies are the [::1] forwarders of the endpoints attached by this
	// process (the container's monitor), by EndpointOwner.
	mu      sync.Mutex
	proxies map[string][]*proxy.Proxy
}

// New returns a driver keeping its files under cfg.StateDir.
func New(cfg Config) (*Driver, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("linux network driver: no state directory")
	}
	return &Driver{cfg: cfg, inst: Instance(cfg.StateDir), proxies: map[string][]*proxy.Proxy{}}, nil
}

// host is the driver's view of the host's network namespace for one
// operation: a netlink handle and an nftables connection there.
type host struct {
	nl  *netlink.Handle
	nft *nft
	ns  netns.NsHandle // the host namespace; None for the process's own
}

func (h *host) close() {
	h.nl.Close()
	if h.ns.IsOpen() {
		h.ns.Close()
	}
}

// open connects to the host namespace (Config.HostNetNS, or the
// process's).
func (d *Driver) open() (*host, error) {
	h := &host{ns: netns.None()}
	var err error
	if d.cfg.HostNetNS == "" {
		h.nl, err = netlink.NewHandle()
		if err == nil {
			h.nft, err = newNFT()
		}
	} else {
		if h.ns, err = openNetNS(d.cfg.HostNetNS); err != nil {
			return nil, err
		}
		h.nl, err = netlink.NewHandleAt(h.ns)
		if err == nil {
			h.nft, err = newNFT(nftables.WithNetNSFd(int(h.ns)))
		}
	}
	if err != nil {
		if h.nl != nil {
			h.nl.Close()
		}
		if h.ns.IsOpen() {
			h.ns.Close()
		}
		return nil, fmt.Errorf("host network namespace: %w", err)
	}
	return h, nil
}

// sysctl writes a kernel parameter of the host namespace.
func (h *host) sysctl(key, value string) error {
	if !h.ns.IsOpen() {
		return writeSysctl(key, value)
	}
	// /proc/sys/net shows the namespace of the thread that opens it: the
	// write happens on a thread moved into the host namespace and thrown
	// away afterwards.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(h.ns); err != nil {
			errc <- fmt.Errorf("sysctl %s: enter namespace: %w", key, err)
			return
		}
		errc <- writeSysctl(key, value)
	}()
	return <-errc
}

// lock takes the driver's lock file, shared by every stockade process on
// the state directory: planning a table's rules reads before it writes.
func (d *Driver) lock(ctx context.Context) (unlock func(), err error) {
	if err := os.MkdirAll(d.cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("network lock: %w", err)
	}
	f, err := flock.Acquire(ctx, d.cfg.lockPath(), flock.Exclusive)
	if err != nil {
		return nil, fmt.Errorf("network lock %s: %w", d.cfg.lockPath(), err)
	}
	return func() { f.Close() }, nil
}

// withHost runs fn with the driver's lock held and the host namespace
// open, and lets both go afterwards.
func (d *Driver) withHost(ctx context.Context, fn func(*host) error) error {
	unlock, err := d.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	h, err := d.open()
	if err != nil {
		return err
	}
	defer h.close()
	return fn(h)
}

// Preflight checks that the kernel has nftables. It also warns (in the
// log; it is not an error) when another table's forward chain drops by
// default.
func (d *Driver) Preflight(ctx context.Context, n *network.Network) error {
	h, err := d.open()
	var chains []*nftables.Chain
	if err == nil {
		chains, err = h.nft.c.ListChains()
		h.close()
	}
	if err != nil {
		return fmt.Errorf("nftables is not available in the kernel (%v): load it with `modprobe nf_tables` (a kernel built with CONFIG_NF_TABLES, CONFIG_NFT_NAT, CONFIG_NFT_MASQ, CONFIG_NFT_FIB_INET)", err)
	}
	if c := forwardDropper(chains); c != "" {
		slog.Warn("another firewall drops forwarded traffic by default: containers on stockade networks may not reach each other or the outside unless it accepts the stockade bridges' traffic", "chain", c)
	}
	return nil
}

// forwardDropper names a base chain of another table (docker's iptables
// FORWARD, a firewalld zone) whose policy drops forwarded packets: a drop
// in any table is final, whatever stockade's table accepts.
func forwardDropper(chains []*nftables.Chain) string {
	for _, c := range chains {
		if c.Table == nil || c.Table.Name == TableName || c.Hooknum == nil || *c.Hooknum != *nftables.ChainHookForward {
			continue
		}
		if c.Policy != nil && *c.Policy == nftables.ChainPolicyDrop {
			return fmt.Sprintf("%s %s %s", familyName(c.Table.Family), c.Table.Name, c.Name)
		}
	}
	return ""
}

func familyName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyBridge:
		return "bridge"
	}
	return fmt.Sprintf("family-%d", f)
}

// EnsureNetwork creates n's bridge with its gateway addresses, turns on
// forwarding, and adds its rules.
func (d *Driver) EnsureNetwork(ctx context.Context, n *network.Network) error {
	return d.withHost(ctx, func(h *host) error { return d.ensureNetwork(h, n) })
}

func (d *Driver) ensureNetwork(h *host, n *network.Network) error {
	rules, err := NetworkRules(d.inst, n)
	if err != nil {
		return err
	}
	br := bridgeName(n)
	link, err := h.nl.LinkByName(br)
	switch {
	case isNotFound(err):
		la := netlink.NewLinkAttrs()
		la.Name = br
		if err := h.nl.LinkAdd(&netlink.Bridge{LinkAttrs: la}); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("network %s: create bridge %s: %w", n.Name, br, err)
		}
		if link, err = h.nl.LinkByName(br); err != nil {
			return fmt.Errorf("network %s: bridge %s: %w", n.Name, br, err)
		}
	case err != nil:
		return fmt.Errorf("network %s: bridge %s: %w", n.Name, br, err)
	case link.Type() != "bridge":
		return fmt.Errorf("network %s: interface %s exists and is not a bridge (%s)", n.Name, br, link.Type())
	}
	if kind, inst, id, _ := parseAlias(link.Attrs().Alias); kind != "" && (id != n.ID || inst != d.inst) {
		return fmt.Errorf("network %s: bridge %s is another network's (%s)", n.Name, br, link.Attrs().Alias)
	}
	if link.Attrs().Alias != networkAlias(d.inst, n) {
		if err := h.nl.LinkSetAlias(link, networkAlias(d.inst, n)); err != nil {
			return fmt.Errorf("network %s: bridge %s: set alias: %w", n.Name, br, err)
		}
	}
	// Localhost forwarding: a connection from 127.0.0.1 translated to a
	// container leaves through the bridge with its loopback source until
	// postrouting masquerades it, which the kernel allows only where
	// route_localnet is on.
	if err := h.sysctl(filepath.Join("net/ipv4/conf", br, "route_localnet"), "1"); err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	if n.Subnet6.IsValid() {
		// The bridge routes its subnet: it takes no router advertisements.
		if err := h.sysctl(filepath.Join("net/ipv6/conf", br, "accept_ra"), "0"); err != nil {
			return fmt.Errorf("network %s: %w", n.Name, err)
		}
	}
	for _, a := range []struct {
		gw  netip.Addr
		sub netip.Prefix
	}{{n.Gateway, n.Subnet}, {n.Gateway6, n.Subnet6}} {
		if !a.gw.IsValid() || !a.sub.IsValid() {
			continue
		}
		if err := h.nl.AddrReplace(link, addr(netip.PrefixFrom(a.gw, a.sub.Bits()))); err != nil {
			return fmt.Errorf("network %s: bridge %s: address %s: %w", n.Name, br, a.gw, err)
		}
	}
	if err := h.nl.LinkSetUp(link); err != nil {
		return fmt.Errorf("network %s: bridge %s: up: %w", n.Name, br, err)
	}
	if err := h.sysctl("net/ipv4/ip_forward", "1"); err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	if n.Subnet6.IsValid() {
		if err := h.sysctl("net/ipv6/conf/all/forwarding", "1"); err != nil {
			return fmt.Errorf("network %s: %w", n.Name, err)
		}
	}
	if err := h.nft.ensureTable(); err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	if err := h.nft.setBridge(br, true); err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	if err := h.nft.ensureRules(NetworkOwner(d.inst, n), rules); err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	return nil
}

// RemoveNetwork removes n's rules, its endpoints' rules and veths, and its
// bridge.
func (d *Driver) RemoveNetwork(ctx context.Context, n *network.Network) error {
	return d.withHost(ctx, func(h *host) error { return d.removeNetwork(h, n) })
}

func (d *Driver) removeNetwork(h *host, n *network.Network) error {
	if _, err := h.nft.deleteRules(func(o string) bool {
		_, inst, nid, _ := parseOwner(o)
		return inst == d.inst && nid == n.ID
	}); err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	br := bridgeName(n)
	links, err := h.nl.LinkList()
	if err != nil {
		return fmt.Errorf("network %s: list interfaces: %w", n.Name, err)
	}
	for _, l := range links {
		kind, inst, nid, _ := parseAlias(l.Attrs().Alias)
		ours := kind != "" && inst == d.inst && nid == n.ID
		if ours || l.Attrs().Name == br && l.Type() == "bridge" && kind == "" {
			if err := h.nl.LinkDel(l); err != nil && !isNotFound(err) {
				return fmt.Errorf("network %s: delete %s: %w", n.Name, l.Attrs().Name, err)
			}
		}
	}
	if err := h.nft.setBridge(br, false); err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	return nil
}

// Attach gives the container its network namespace at sb.NetNS, a veth
// pair from n's bridge into it with ep's addresses, MAC and routes, and
// the rules of its published ports. A failed Attach leaves nothing.
func (d *Driver) Attach(ctx context.Context, n *network.Network, ep *network.Endpoint, sb network.Sandbox) error {
	return d.withHost(ctx, func(h *host) error {
		if err := d.attach(h, n, ep, sb); err != nil {
			if derr := d.detach(h, n, ep, sb); derr != nil {
				slog.Warn("undo a failed attach", "container", ep.ContainerID, "network", n.Name, "err", derr)
			}
			return fmt.Errorf("container %s on network %s: %w", short(ep.ContainerID, 12), n.Name, err)
		}
		return nil
	})
}

func (d *Driver) attach(h *host, n *network.Network, ep *network.Endpoint, sb network.Sandbox) error {
	hostIf, inner := hostIfName(n, ep), ifName(ep)
	for _, name := range []string{hostIf, inner} {
		if err := validIfName(name); err != nil {
			return err
		}
	}
	if !ep.Addr.IsValid() {
		return errors.New("no IPv4 address")
	}
	var mac net.HardwareAddr
	if ep.MAC != "" {
		var err error
		if mac, err = net.ParseMAC(ep.MAC); err != nil {
			return fmt.Errorf("MAC address %q: %w", ep.MAC, err)
		}
	}
	rules, err := EndpointRules(d.inst, n, ep)
	if err != nil {
		return err
	}
	if sb.NetNS == "" {
		return errors.New("no network namespace path")
	}
	br, err := h.nl.LinkByName(bridgeName(n))
	if err != nil || br.Attrs().Alias != networkAlias(d.inst, n) || br.Attrs().Flags&net.FlagUp == 0 {
		if err := d.ensureNetwork(h, n); err != nil {
			return err
		}
		if br, err = h.nl.LinkByName(bridgeName(n)); err != nil {
			return fmt.Errorf("bridge %s: %w", bridgeName(n), err)
		}
	}
	if err := createNetNS(sb.NetNS); err != nil {
		return err
	}
	ns, err := openNetNS(sb.NetNS)
	if err != nil {
		return err
	}
	defer ns.Close()
	nh, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", sb.NetNS, err)
	}
	defer nh.Close()

	// The pair: made whole, or remade when a crash left half of it.
	hl, err := h.nl.LinkByName(hostIf)
	switch {
	case err == nil:
		if _, ierr := nh.LinkByName(inner); ierr != nil || hl.Type() != "veth" {
			if kind, _, _, _ := parseAlias(hl.Attrs().Alias); hl.Type() != "veth" || kind != "endpoint" {
				return fmt.Errorf("interface %s exists and is not this container's veth", hostIf)
			}
			if err := h.nl.LinkDel(hl); err != nil && !isNotFound(err) {
				return fmt.Errorf("remove stale %s: %w", hostIf, err)
			}
			hl = nil
		}
	case isNotFound(err):
		hl = nil
	default:
		return fmt.Errorf("interface %s: %w", hostIf, err)
	}
	if hl == nil {
		la := netlink.NewLinkAttrs()
		la.Name = hostIf
		la.MasterIndex = br.Attrs().Index
		veth := &netlink.Veth{LinkAttrs: la, PeerName: inner, PeerNamespace: netlink.NsFd(int(ns)), PeerHardwareAddr: mac}
		if err := h.nl.LinkAdd(veth); err != nil {
			return fmt.Errorf("create veth %s: %w", hostIf, err)
		}
		if hl, err = h.nl.LinkByName(hostIf); err != nil {
			return fmt.Errorf("veth %s: %w", hostIf, err)
		}
	}
	if hl.Attrs().Alias != endpointAlias(d.inst, n, ep) {
		if err := h.nl.LinkSetAlias(hl, endpointAlias(d.inst, n, ep)); err != nil {
			return fmt.Errorf("veth %s: set alias: %w", hostIf, err)
		}
	}
	if hl.Attrs().MasterIndex != br.Attrs().Index {
		if err := h.nl.LinkSetMaster(hl, br); err != nil {
			return fmt.Errorf("veth %s: attach to %s: %w", hostIf, br.Attrs().Name, err)
		}
	}
	// Hairpin: a container reaching its own published port through a
	// host address gets the translated packet back out its own port.
	if err := h.nl.LinkSetHairpin(hl, true); err != nil {
		return fmt.Errorf("veth %s: hairpin: %w", hostIf, err)
	}
	if err := h.nl.LinkSetUp(hl); err != nil {
		return fmt.Errorf("veth %s: up: %w", hostIf, err)
	}

	// Inside the namespace.
	lo, err := nh.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("lo in %s: %w", sb.NetNS, err)
	}
	if err := nh.LinkSetUp(lo); err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	il, err := nh.LinkByName(inner)
	if err != nil {
		return fmt.Errorf("%s in %s: %w", inner, sb.NetNS, err)
	}
	if mac != nil && il.Attrs().HardwareAddr.String() != mac.String() {
		if err := nh.LinkSetHardwareAddr(il, mac); err != nil {
			return fmt.Errorf("%s: MAC %s: %w", inner, mac, err)
		}
	}
	for _, p := range []netip.Prefix{ep.Addr, ep.Addr6} {
		if !p.IsValid() {
			continue
		}
		if err := nh.AddrReplace(il, addr(p)); err != nil {
			return fmt.Errorf("%s: address %s: %w", inner, p, err)
		}
	}
	if err := nh.LinkSetUp(il); err != nil {
		return fmt.Errorf("%s up: %w", inner, err)
	}
	if !n.Internal {
		gws := []netip.Addr{n.Gateway}
		if ep.Addr6.IsValid() {
			gws = append(gws, n.Gateway6)
		}
		for _, gw := range gws {
			if !gw.IsValid() {
				continue
			}
			r := &netlink.Route{LinkIndex: il.Attrs().Index, Gw: gw.AsSlice(), Family: netlink.FAMILY_V4}
			if gw.Is6() {
				r.Family = netlink.FAMILY_V6
			}
			if err := nh.RouteReplace(r); err != nil {
				return fmt.Errorf("%s: default route via %s: %w", inner, gw, err)
			}
		}
	}
	if err := h.nft.ensureRules(EndpointOwner(d.inst, n, ep), rules); err != nil {
		return err
	}
	return d.startProxies(n, ep)
}

// startProxies starts the endpoint's [::1] forwarders unless they run. A
// host without ::1, or a port on ::1 that something else holds, loses
// only that forwarder: a warning, not a failed start.
//
// Why a userland proxy for [::1]: no nftables rule can forward from it.
// IPv6 has no route_localnet, so the kernel drops a packet with the
// source ::1 routed to any other interface, and a DNAT to a container
// never leaves the host. The forwarder (package network/proxy) listens
// on [::1] in the host namespace and dials the container from there.
func (d *Driver) startProxies(n *network.Network, ep *network.Endpoint) error {
	plan := LoopbackProxies(ep)
	owner := EndpointOwner(d.inst, n, ep)
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(plan) == 0 || d.proxies[owner] != nil {
		return nil
	}
	var started []*proxy.Proxy
	for _, p := range plan {
		var px *proxy.Proxy
		err := d.inHostNS(func() error {
			if p.Protocol == "udp" {
				pc, err := net.ListenPacket("udp", p.Listen.String())
				if err != nil {
					return err
				}
				px = proxy.ServePacket(pc, p.Target, proxy.WithDial(d.dialFromHost))
				return nil
			}
			ln, err := net.Listen("tcp", p.Listen.String())
			if err != nil {
				return err
			}
			px = proxy.Serve(ln, p.Target, proxy.WithDial(d.dialFromHost))
			return nil
		})
		if err != nil {
			slog.Warn("published port not forwarded from [::1]", "container", short(ep.ContainerID, 12), "port", p.Listen.String()+"/"+p.Protocol, "err", err)
			continue
		}
		started = append(started, px)
	}
	d.proxies[owner] = started
	return nil
}

// stopProxies stops the endpoint's [::1] forwarders.
func (d *Driver) stopProxies(n *network.Network, ep *network.Endpoint) {
	owner := EndpointOwner(d.inst, n, ep)
	d.mu.Lock()
	ps := d.proxies[owner]
	delete(d.proxies, owner)
	d.mu.Unlock()
	proxy.CloseAll(ps)
}

// dialFromHost connects from the host namespace.
func (d *Driver) dialFromHost(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := d.inHostNS(func() (err error) {
		c, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// inHostNS runs fn in the host namespace: directly for the process's own,
// on a thread moved there (and thrown away afterwards) for
// Config.HostNetNS. Sockets fn makes stay in that namespace.
func (d *Driver) inHostNS(fn func() error) error {
	if d.cfg.HostNetNS == "" {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := openNetNS(d.cfg.HostNetNS)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("enter %s: %w", d.cfg.HostNetNS, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Detach removes the endpoint's rules and [::1] proxies, and its veth pair:
// with the network namespace when no other network's interface is left in
// it (the kernel then deletes the pair in the background, once the
// container's processes are gone), directly otherwise.
func (d *Driver) Detach(ctx context.Context, n *network.Network, ep *network.Endpoint, sb network.Sandbox) error {
	return d.withHost(ctx, func(h *host) error {
		if err := d.detach(h, n, ep, sb); err != nil {
			return fmt.Errorf("container %s on network %s: %w", short(ep.ContainerID, 12), n.Name, err)
		}
		return nil
	})
}

func (d *Driver) detach(h *host, n *network.Network, ep *network.Endpoint, sb network.Sandbox) error {
	d.stopProxies(n, ep)
	owner := EndpointOwner(d.inst, n, ep)
	if _, err := h.nft.deleteRules(func(o string) bool { return o == owner }); err != nil {
		return err
	}
	// Dropping the namespace is enough when the endpoint's interface is
	// the last in it and its processes are gone: the kernel then deletes
	// the veth pair itself, in the background. Deleting the veth here
	// would wait for an RCU grace period (30 ms on an idle host, hundreds
	// on a loaded one) on the container's stop path.
	if sb.NetNS != "" && isNetNS(sb.NetNS) {
		others, err := otherLinks(sb.NetNS, ifName(ep))
		if err != nil {
			return err
		}
		if len(others) > 0 {
			return d.deleteVeth(h, n, ep)
		}
		return removeNetNS(sb.NetNS)
	}
	if sb.NetNS != "" {
		// The namespace is gone already: an earlier Detach dropped it
		// (the container's stop; its removal detaches again). Its veth
		// pair goes with it, in the background, as above: the host end
		// is deleted here only when its peer is on the host too, as a
		// failed Attach leaves it. Deleting it otherwise waited for the
		// RCU grace period on every `run --rm`'s removal (13-20 ms).
		if err := d.deleteVethIf(h, n, ep, peerOnHost); err != nil {
			return err
		}
		return removeNetNS(sb.NetNS)
	}
	return d.deleteVeth(h, n, ep)
}

// peerOnHost reports whether the veth whose host end is l has its peer
// in the same namespace (the kernel names no other namespace for it).
func peerOnHost(l netlink.Link) bool { return l.Attrs().NetNsID < 0 }

// deleteVeth deletes the endpoint's veth pair, if the host end is this
// endpoint's.
func (d *Driver) deleteVeth(h *host, n *network.Network, ep *network.Endpoint) error {
	return d.deleteVethIf(h, n, ep, func(netlink.Link) bool { return true })
}

// deleteVethIf is deleteVeth when the host end also satisfies ok.
func (d *Driver) deleteVethIf(h *host, n *network.Network, ep *network.Endpoint, ok func(netlink.Link) bool) error {
	hostIf := hostIfName(n, ep)
	l, err := h.nl.LinkByName(hostIf)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("interface %s: %w", hostIf, err)
	}
	if alias := l.Attrs().Alias; l.Type() == "veth" && (alias == endpointAlias(d.inst, n, ep) || alias == "") && ok(l) {
		if err := h.nl.LinkDel(l); err != nil && !isNotFound(err) {
			return fmt.Errorf("delete veth %s: %w", hostIf, err)
		}
	}
	return nil
}

// otherLinks lists the interfaces in the namespace at path other than lo
// and skip.
func otherLinks(path, skip string) ([]string, error) {
	ns, err := openNetNS(path)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	nh, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink in %s: %w", path, err)
	}
	defer nh.Close()
	links, err := nh.LinkList()
	if err != nil {
		return nil, fmt.Errorf("interfaces in %s: %w", path, err)
	}
	var names []string
	for _, l := range links {
		if name := l.Attrs().Name; name != "lo" && name != skip {
			names = append(names, name)
		}
	}
	return names, nil
}

// Check finds this installation's host objects that belong to no network
// of nets and no endpoint of attached: bridges and veths (by their alias),
// rules (by their comment), names in the bridges set whose bridge is gone,
// and network namespaces in the state directory; repair removes them.
func (d *Driver) Check(ctx context.Context, nets []*network.Network, attached []*network.Endpoint, repair bool) ([]network.Problem, error) {
	var problems []network.Problem
	err := d.withHost(ctx, func(h *host) (err error) {
		problems, err = d.check(h, nets, attached, repair)
		return err
	})
	return problems, err
}

func (d *Driver) check(h *host, nets []*network.Network, attached []*network.Endpoint, repair bool) ([]network.Problem, error) {
	netIDs := map[string]bool{}
	netByName := map[string]string{}
	for _, n := range nets {
		netIDs[n.ID] = true
		netByName[n.Name] = n.ID
	}
	eps := map[string]bool{} // network id + " " + container id
	var containers []string
	for _, ep := range attached {
		nid := netByName[ep.Network]
		if nid == "" {
			nid = ep.Network // the model may name the network by id
		}
		eps[nid+" "+ep.ContainerID] = true
		containers = append(containers, ep.ContainerID)
	}
	var problems []network.Problem
	fix := func(p network.Problem, undo func() error) {
		if repair {
			if err := undo(); err != nil {
				p.Error = err.Error()
			} else {
				p.Repaired = true
			}
		}
		problems = append(problems, p)
	}

	owners, err := h.nft.owners()
	if err != nil {
		return nil, err
	}
	stale := map[string]string{}
	for _, c := range Chains {
		for _, o := range owners[c] {
			switch kind, inst, nid, cid := parseOwner(o); {
			case kind == "static" || inst != d.inst && kind != "":
			case kind == "network" && !netIDs[nid]:
				stale[o] = "belongs to no network"
			case kind == "endpoint" && !eps[nid+" "+cid]:
				stale[o] = "belongs to no running container"
			case kind == "":
				stale[o] = "has a comment stockade did not write"
			}
		}
	}
	for _, o := range slices.Sorted(maps.Keys(stale)) {
		fix(network.Problem{What: fmt.Sprintf("nftables rules %q in table inet %s", o, TableName), Issue: stale[o]}, func() error {
			_, err := h.nft.deleteRules(func(x string) bool { return x == o })
			return err
		})
	}

	links, err := h.nl.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	present := map[string]bool{}
	for _, l := range links {
		present[l.Attrs().Name] = true
		kind, inst, nid, cid := parseAlias(l.Attrs().Alias)
		var issue string
		switch {
		case kind == "" || inst != d.inst:
			continue
		case kind == "network" && !netIDs[nid]:
			issue = "belongs to no network"
		case kind == "endpoint" && !eps[nid+" "+cid]:
			issue = "belongs to no running container"
		default:
			continue
		}
		fix(network.Problem{What: fmt.Sprintf("%s %s", l.Type(), l.Attrs().Name), Issue: issue}, func() error {
			if err := h.nl.LinkDel(l); err != nil && !isNotFound(err) {
				return err
			}
			delete(present, l.Attrs().Name)
			return nil
		})
	}
	inSet, err := h.nft.bridges()
	if err != nil {
		return nil, err
	}
	for _, b := range inSet {
		if !present[b] {
			fix(network.Problem{What: fmt.Sprintf("bridge name %s in set %s of table inet %s", b, BridgesSet, TableName), Issue: "the bridge is gone"}, func() error {
				return h.nft.setBridge(b, false)
			})
		}
	}

	entries, err := os.ReadDir(d.cfg.netnsDir())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("network namespaces: %w", err)
	}
	for _, e := range entries {
		if slices.ContainsFunc(containers, func(id string) bool { return strings.HasPrefix(id, e.Name()) }) {
			continue
		}
		path := filepath.Join(d.cfg.netnsDir(), e.Name())
		fix(network.Problem{What: "network namespace " + path, Issue: "belongs to no running container"}, func() error {
			return removeNetNS(path)
		})
	}
	return problems, nil
}

// addr is p as a netlink address; IPv6 addresses skip duplicate address
// detection, which would hold them back for a second or more.
func addr(p netip.Prefix) *netlink.Addr {
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}

// writeSysctl sets a kernel parameter through /proc/sys, unless it already
// has the value.
func writeSysctl(key, value string) error {
	path := filepath.Join("/proc/sys", key)
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == value {
		return nil
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", strings.ReplaceAll(key, "/", "."), value, err)
	}
	return nil
}

// isNotFound reports a missing link, table, chain or set.
func isNotFound(err error) bool {
	var lnf netlink.LinkNotFoundError
	return err != nil && (errors.As(err, &lnf) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) || errors.Is(err, os.ErrNotExist))
}
