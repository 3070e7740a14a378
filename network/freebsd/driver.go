package freebsd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/network"
	"github.com/stockade/stockade/network/proxy"
)

// MinOSRelDate is the oldest FreeBSD the driver runs on (kern.osreldate
// of 13.3): ifconfig -j and route -j, which configure a jail's vnet with
// the host's tools whether or not the jail has them, came with it.
const MinOSRelDate = 1303000

// Driver is the FreeBSD network.Driver. Its published-port proxies live
// in the process that calls Attach (the container's monitor) until Detach.
type Driver struct {
	h   Host
	log *slog.Logger

	mu      sync.Mutex
	proxies map[string][]*proxy.Proxy // by endpointAnchor
}

var _ network.Driver = (*Driver)(nil)

// New returns a driver that works through h; log may be nil.
func New(h Host, log *slog.Logger) *Driver {
	if log == nil {
		log = slog.Default()
	}
	return &Driver{h: h, log: log, proxies: map[string][]*proxy.Proxy{}}
}

// Name is "freebsd".
func (d *Driver) Name() string { return "freebsd" }

// AttachPhase is AfterCreate: the runtime makes the vnet jail, then the
// driver moves an epair end into it.
func (d *Driver) AttachPhase() network.Phase { return network.AfterCreate }

func isAlias(n *network.Network) bool { return n.Driver == DriverAlias }

// Preflight checks what the network needs of the host and reports every
// missing piece, each with its fix, on one line.
func (d *Driver) Preflight(ctx context.Context, n *network.Network) error {
	if isAlias(n) {
		if n.Interface == "" {
			return fmt.Errorf("network %s: an alias network needs a host interface (alias:IFACE)", n.Name)
		}
		if _, err := run(ctx, d.h, "ifconfig", n.Interface); err != nil {
			return fmt.Errorf("network %s: host interface %s does not exist (ifconfig -l lists them)", n.Name, n.Interface)
		}
		return nil
	}
	var bad []string
	// One sysctl for the three values; -i skips a name the kernel lacks
	// (net.inet6 without INET6), which then reads as off.
	out, err := run(ctx, d.h, "sysctl", "-i", "kern.osreldate", "net.inet.ip.forwarding", "net.inet6.ip6.forwarding")
	if err != nil {
		return fmt.Errorf("network %s: read kern.osreldate and forwarding: %w", n.Name, err)
	}
	vals := parseSysctl(out)
	if v, err := strconv.Atoi(vals["kern.osreldate"]); err != nil || v < MinOSRelDate {
		bad = append(bad, fmt.Sprintf("FreeBSD 13.3 or later is needed (ifconfig -j, route -j), this is kern.osreldate %q: upgrade the host", vals["kern.osreldate"]))
	}
	if out, err := run(ctx, d.h, "pfctl", "-s", "info"); err != nil {
		bad = append(bad, "pf is not loaded: kldload pf, and pf_enable=YES in /etc/rc.conf")
	} else {
		if !strings.Contains(out, "Status: Enabled") {
			bad = append(bad, "pf is disabled: pfctl -e, and pf_enable=YES in /etc/rc.conf")
		}
		var missing []string
		nat, _ := run(ctx, d.h, "pfctl", "-s", "nat")
		rules, _ := run(ctx, d.h, "pfctl", "-s", "rules")
		for _, want := range []struct{ out, line string }{
			{nat, `nat-anchor "stockade/*"`},
			{nat, `rdr-anchor "stockade/*"`},
			{rules, `anchor "stockade/*"`},
		} {
			if !hasRuleLine(want.out, want.line) {
				missing = append(missing, want.line)
			}
		}
		if len(missing) > 0 {
			bad = append(bad, fmt.Sprintf("pf's ruleset lacks %s: add the lines nat-anchor \"stockade/*\", rdr-anchor \"stockade/*\" and anchor \"stockade/*\" to /etc/pf.conf and run pfctl -f /etc/pf.conf", strings.Join(missing, ", ")))
		}
	}
	if !n.Internal {
		if vals["net.inet.ip.forwarding"] != "1" {
			bad = append(bad, "IPv4 forwarding is off: sysctl net.inet.ip.forwarding=1, and gateway_enable=YES in /etc/rc.conf")
		}
		if n.Subnet6.IsValid() && vals["net.inet6.ip6.forwarding"] != "1" {
			bad = append(bad, "IPv6 forwarding is off: sysctl net.inet6.ip6.forwarding=1, and ipv6_gateway_enable=YES in /etc/rc.conf")
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("network %s: %s", n.Name, strings.Join(bad, "; "))
	}
	return nil
}

// hasRuleLine reports whether pfctl's listing has a rule that starts with
// line (pfctl prints `nat-anchor "stockade/*" all`).
func hasRuleLine(out, line string) bool {
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if l == line || strings.HasPrefix(l, line+" ") {
			return true
		}
	}
	return false
}

// parseSysctl reads sysctl(8)'s "name: value" lines.
func parseSysctl(out string) map[string]string {
	vals := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			vals[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return vals
}

// Spec makes the jail a vnet jail for a bridge network: vnet "new", and
// no ip4/ip6 parameter or interface, which the kernel refuses beside vnet
// (kern_jail.c: "vnet jails cannot have IP address restrictions"). For an
// alias network it gives the jail its addresses as ip4.addr and ip6.addr
// (ip4 or ip6 "disable" for a family it has none of), without vnet.
func (d *Driver) Spec(ep *network.Endpoint, sb network.Sandbox, spec *specs.Spec) error {
	if spec.FreeBSD == nil {
		spec.FreeBSD = &specs.FreeBSD{}
	}
	if spec.FreeBSD.Jail == nil {
		spec.FreeBSD.Jail = &specs.FreeBSDJail{}
	}
	j := spec.FreeBSD.Jail
	j.Ip4, j.Ip4Addr, j.Ip6, j.Ip6Addr, j.Interface = "", nil, "", nil, ""
	if ep.Driver != DriverAlias {
		j.Vnet = specs.FreeBSDShareNew
		return nil
	}
	if len(ep.Ports) > 0 {
		p := ep.Ports[0]
		return fmt.Errorf("network %s: published port %d: an alias network has no port mapping (the jail listens on %s itself)", ep.Network, p.HostPort, ep.Addr.Addr())
	}
	j.Vnet, j.VnetInterfaces = "", nil
	if ep.Addr.IsValid() {
		j.Ip4Addr = []string{ep.Addr.Addr().String()}
	} else {
		j.Ip4 = specs.FreeBSDShareDisable
	}
	if ep.Addr6.IsValid() {
		j.Ip6Addr = []string{ep.Addr6.Addr().String()}
	} else {
		j.Ip6 = specs.FreeBSDShareDisable
	}
	return nil
}

// EnsureNetwork creates the bridge with the gateway addresses, in the
// group that marks stockade's bridges, and loads the network's anchor.
// A bridge that exists is kept; the anchor is loaded again (pfctl -f
// replaces an anchor's rules). An alias network has nothing on the host
// until a container comes.
func (d *Driver) EnsureNetwork(ctx context.Context, n *network.Network) (err error) {
	if isAlias(n) {
		return nil
	}
	if !n.Subnet.IsValid() || !n.Gateway.IsValid() {
		return fmt.Errorf("network %s: no IPv4 subnet and gateway", n.Name)
	}
	u := &undo{}
	defer func() {
		if err != nil {
			u.rollback(ctx, d.log)
			err = fmt.Errorf("network %s: %w", n.Name, err)
		}
	}()
	br := bridgeName(n)
	if _, err := run(ctx, d.h, "ifconfig", br); err != nil {
		if !gone(err) {
			return err
		}
		out, err := run(ctx, d.h, "ifconfig", "bridge", "create")
		if err != nil {
			return err
		}
		made := strings.TrimSpace(out)
		if made == "" {
			return errors.New("ifconfig bridge create printed no interface name")
		}
		u.cmd(d.h, "ifconfig", made, "destroy")
		if _, err := run(ctx, d.h, "ifconfig", made, "name", br); err != nil {
			// Another process (a container of the same network starting
			// at the same time) made the bridge meanwhile: use that one.
			if _, err2 := run(ctx, d.h, "ifconfig", br); err2 != nil {
				return err
			}
			u.rollback(ctx, d.log)
			return d.loadNetworkRules(ctx, n, u)
		}
		u.replaceCmd(d.h, "ifconfig", br, "destroy")
		gw := netip.PrefixFrom(n.Gateway, n.Subnet.Bits())
		if _, err := run(ctx, d.h, "ifconfig", br, "inet", gw.String()); err != nil {
			return err
		}
		if n.Subnet6.IsValid() && n.Gateway6.IsValid() {
			gw6 := netip.PrefixFrom(n.Gateway6, n.Subnet6.Bits())
			if _, err := run(ctx, d.h, "ifconfig", br, "inet6", gw6.String(), "-ifdisabled"); err != nil {
				return err
			}
		}
		if _, err := run(ctx, d.h, "ifconfig", br, "group", bridgeGroup, "description", "stockade-network "+n.ID, "up"); err != nil {
			return err
		}
	}
	return d.loadNetworkRules(ctx, n, u)
}

// loadNetworkRules loads the network's anchor.
func (d *Driver) loadNetworkRules(ctx context.Context, n *network.Network, u *undo) error {
	var ext4, ext6 string
	if !n.Internal {
		ext4 = d.defaultIf(ctx, "-inet")
		if n.Subnet6.IsValid() {
			ext6 = d.defaultIf(ctx, "-inet6")
		}
	}
	anchor := networkAnchor(n)
	if _, err := d.h.Run(ctx, networkRules(n, ext4, ext6), "pfctl", "-a", anchor, "-f", "-"); err != nil {
		return err
	}
	u.cmd(d.h, "pfctl", "-a", anchor, "-F", "all")
	return nil
}

// defaultIf is the interface of the host's default route for af ("-inet"
// or "-inet6"), "" when there is none: then the network has no outbound
// NAT for that family, and says so in the log.
func (d *Driver) defaultIf(ctx context.Context, af string) string {
	out, err := run(ctx, d.h, "route", "-n", "get", af, "default")
	if err != nil {
		d.log.Warn("no default route: no outbound NAT", "family", af[1:])
		return ""
	}
	return parseRouteInterface(out)
}

// parseRouteInterface reads the "interface: em0" line of route get.
func parseRouteInterface(out string) string {
	for _, l := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if ok && k == "interface" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// RemoveNetwork flushes the network's anchor and destroys its bridge;
// what is already gone counts as removed.
func (d *Driver) RemoveNetwork(ctx context.Context, n *network.Network) error {
	if isAlias(n) {
		return nil
	}
	var errs []error
	if _, err := run(ctx, d.h, "pfctl", "-a", networkAnchor(n), "-F", "all"); err != nil && !gone(err) {
		errs = append(errs, err)
	}
	if _, err := run(ctx, d.h, "ifconfig", bridgeName(n), "destroy"); err != nil && !gone(err) {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	return nil
}

// jailOf returns the jail of the host process pid (ps's jid keyword,
// kinfo_proc's ki_jid); a process outside any jail is an error.
func (d *Driver) jailOf(ctx context.Context, pid int) (string, error) {
	if pid <= 0 {
		return "", fmt.Errorf("no container process to find the jail from (pid %d)", pid)
	}
	out, err := run(ctx, d.h, "ps", "-o", "jid=", "-p", strconv.Itoa(pid))
	if err != nil {
		return "", fmt.Errorf("find the jail of process %d: %w", pid, err)
	}
	jid := strings.TrimSpace(out)
	if v, err := strconv.Atoi(jid); err != nil || v <= 0 {
		return "", fmt.Errorf("process %d is in no jail (jid %q)", pid, jid)
	}
	return jid, nil
}

// Attach connects the container. Bridge network: its published-port
// proxies first (a port already taken fails here, before anything else
// is made), an epair whose host end joins the bridge and whose other end
// moves into the jail as eth0 with the container's addresses, lo0 up,
// the default routes (none on an internal network), and the container's
// anchor. Alias network: the addresses as aliases on the host interface.
// A failure takes back every step already made.
func (d *Driver) Attach(ctx context.Context, n *network.Network, ep *network.Endpoint, sb network.Sandbox) (err error) {
	u := &undo{}
	defer func() {
		if err != nil {
			u.rollback(ctx, d.log)
			err = fmt.Errorf("network %s: attach %s: %w", n.Name, ep.ContainerName, err)
		}
	}()
	if isAlias(n) {
		return d.attachAlias(ctx, n, ep, u)
	}
	if err := checkPorts(ep); err != nil {
		return err
	}
	// Leftovers of an attach that a crash interrupted.
	if err := d.Detach(ctx, n, ep, sb); err != nil {
		return err
	}
	anchor := endpointAnchor(n, ep)
	if err := d.startProxies(n, ep); err != nil {
		return err
	}
	u.push(func(context.Context) error { d.stopProxies(anchor); return nil })
	jid, err := d.jailOf(ctx, sb.Pid)
	if err != nil {
		return err
	}
	hostIf, inner := hostIfName(n, ep), ifName(ep)
	out, err := run(ctx, d.h, "ifconfig", "epair", "create")
	if err != nil {
		return err
	}
	a := strings.TrimSpace(out)
	if !strings.HasPrefix(a, "epair") || !strings.HasSuffix(a, "a") {
		return fmt.Errorf("ifconfig epair create printed %q, not an epair's a end", out)
	}
	b := strings.TrimSuffix(a, "a") + "b"
	// Destroying either end destroys both, wherever the other one is.
	u.cmd(d.h, "ifconfig", a, "destroy")
	steps := [][]string{
		{"ifconfig", a, "name", hostIf},
	}
	for _, s := range steps {
		if _, err := run(ctx, d.h, s...); err != nil {
			return err
		}
	}
	u.replaceCmd(d.h, "ifconfig", hostIf, "destroy")
	steps = [][]string{
		{"ifconfig", hostIf, "group", endpointGroup, "description", "stockade-endpoint " + n.ID + " " + ep.ContainerID, "up"},
		{"ifconfig", bridgeName(n), "addm", hostIf},
	}
	if ep.MAC != "" {
		steps = append(steps, []string{"ifconfig", b, "ether", ep.MAC})
	}
	steps = append(steps,
		[]string{"ifconfig", b, "vnet", jid},
		[]string{"ifconfig", "-j", jid, b, "name", inner},
		[]string{"ifconfig", "-j", jid, inner, "inet", ep.Addr.String(), "up"},
	)
	if ep.Addr6.IsValid() {
		steps = append(steps, []string{"ifconfig", "-j", jid, inner, "inet6", ep.Addr6.String(), "-ifdisabled"})
	}
	steps = append(steps, []string{"ifconfig", "-j", jid, "lo0", "inet", "127.0.0.1/8", "up"})
	if !n.Internal {
		steps = append(steps, []string{"route", "-j", jid, "-n", "-q", "add", "-inet", "default", n.Gateway.String()})
		if ep.Addr6.IsValid() && n.Gateway6.IsValid() {
			steps = append(steps, []string{"route", "-j", jid, "-n", "-q", "add", "-inet6", "default", n.Gateway6.String()})
		}
	}
	for _, s := range steps {
		if _, err := run(ctx, d.h, s...); err != nil {
			return err
		}
	}
	if rules := endpointRules(n, ep); rules != "" {
		if _, err := d.h.Run(ctx, rules, "pfctl", "-a", anchor, "-f", "-"); err != nil {
			return err
		}
		u.cmd(d.h, "pfctl", "-a", anchor, "-F", "all")
	}
	return nil
}

func (d *Driver) attachAlias(ctx context.Context, n *network.Network, ep *network.Endpoint, u *undo) error {
	if n.Interface == "" {
		return errors.New("an alias network needs a host interface")
	}
	if len(ep.Ports) > 0 {
		return fmt.Errorf("published port %d: an alias network has no port mapping", ep.Ports[0].HostPort)
	}
	for _, a := range aliasAddrs(ep) {
		if _, err := run(ctx, d.h, "ifconfig", n.Interface, a.af, a.prefix, "alias"); err != nil {
			return err
		}
		u.cmd(d.h, "ifconfig", n.Interface, a.af, a.addr, "-alias")
	}
	return nil
}

type aliasAddr struct{ af, prefix, addr string }

// aliasAddrs are ep's addresses as host aliases: /32 and /128, which do
// not clash with the interface's own subnet (ifconfig(8), alias).
func aliasAddrs(ep *network.Endpoint) []aliasAddr {
	var out []aliasAddr
	if ep.Addr.IsValid() {
		a := ep.Addr.Addr()
		out = append(out, aliasAddr{"inet", netip.PrefixFrom(a, 32).String(), a.String()})
	}
	if ep.Addr6.IsValid() {
		a := ep.Addr6.Addr()
		out = append(out, aliasAddr{"inet6", netip.PrefixFrom(a, 128).String(), a.String()})
	}
	return out
}

// Detach undoes Attach: the proxies stop, the container's anchor is
// flushed and its epair destroyed (both ends: the jail's end goes with
// it, or came back to the host when the jail went). Alias network: the
// aliases go. What is already gone counts as removed.
func (d *Driver) Detach(ctx context.Context, n *network.Network, ep *network.Endpoint, sb network.Sandbox) error {
	var errs []error
	if isAlias(n) {
		for _, a := range aliasAddrs(ep) {
			if _, err := run(ctx, d.h, "ifconfig", n.Interface, a.af, a.addr, "-alias"); err != nil && !gone(err) {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	anchor := endpointAnchor(n, ep)
	d.stopProxies(anchor)
	if _, err := run(ctx, d.h, "pfctl", "-a", anchor, "-F", "all"); err != nil && !gone(err) {
		errs = append(errs, err)
	}
	if _, err := run(ctx, d.h, "ifconfig", hostIfName(n, ep), "destroy"); err != nil && !gone(err) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// proxyListens are the proxies of one published port: the address asked
// for, or 0.0.0.0 and :: for every address; the target is the container's
// address of the listener's family when it has one.
func proxyListens(ep *network.Endpoint, p network.PortMapping) [][2]netip.AddrPort {
	target := func(host netip.Addr) netip.AddrPort {
		if host.Is6() && !host.Is4In6() && ep.Addr6.IsValid() {
			return netip.AddrPortFrom(ep.Addr6.Addr(), p.ContainerPort)
		}
		return netip.AddrPortFrom(ep.Addr.Addr(), p.ContainerPort)
	}
	var hosts []netip.Addr
	if p.HostIP.IsValid() {
		hosts = []netip.Addr{p.HostIP}
	} else {
		hosts = []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}
	}
	var out [][2]netip.AddrPort
	for _, h := range hosts {
		out = append(out, [2]netip.AddrPort{netip.AddrPortFrom(h, p.HostPort), target(h)})
	}
	return out
}

// Why a userland proxy. pf translates a packet when it crosses an
// interface: rdr rewrites the destination of packets coming in. A
// connection the host makes to 127.0.0.1 (or ::1, or one of its own
// addresses, which FreeBSD also routes through lo0) leaves and re-enters
// on lo0 with the source 127.0.0.1. An rdr on lo0 does rewrite its
// destination to the container, and the state shows it, but the source
// stays 127.0.0.1: the container answers its own loopback and the
// connection never completes. So published ports are rdr rules for
// traffic from other hosts and from containers (every interface but
// lo0), and a proxy (package network/proxy) in the container's monitor
// for traffic from the host itself: it listens on the published address
// and port and opens its own connection to the container, through the
// bridge, from the bridge's address. The proxy lives and dies with the
// monitor, so a kill -9 leaves no listener behind, and a port someone
// already holds fails the attach naming the port, before the container
// starts.

// startProxies listens on every published port of ep (TCP and UDP) and
// forwards to the container; a port that cannot be bound fails the whole.
func (d *Driver) startProxies(n *network.Network, ep *network.Endpoint) error {
	anchor := endpointAnchor(n, ep)
	var ps []*proxy.Proxy
	for _, p := range ep.Ports {
		for _, l := range proxyListens(ep, p) {
			px, err := proxy.Listen(p.Protocol, l[0], l[1], proxy.WithLogger(d.log))
			if err != nil {
				if !p.HostIP.IsValid() && l[0].Addr().Is6() && noIPv6(err) {
					continue // a host without IPv6: 0.0.0.0 is enough
				}
				proxy.CloseAll(ps)
				return err
			}
			ps = append(ps, px)
		}
	}
	d.mu.Lock()
	d.proxies[anchor] = append(d.proxies[anchor], ps...)
	d.mu.Unlock()
	return nil
}

// noIPv6 reports an error of a host without IPv6.
func noIPv6(err error) bool {
	s := err.Error()
	return strings.Contains(s, "address family not supported") || strings.Contains(s, "cannot assign requested address") || strings.Contains(s, "protocol not supported")
}

func (d *Driver) stopProxies(anchor string) {
	d.mu.Lock()
	ps := d.proxies[anchor]
	delete(d.proxies, anchor)
	d.mu.Unlock()
	proxy.CloseAll(ps)
}

// Check lists stockade's bridges (group stockade), epair host ends (group
// stockadeif) and anchors (children of stockade) that belong to no
// network of nets and no endpoint of attached, and removes them when
// repair is set. An alias network's addresses cannot be told from the
// admin's and are not checked.
func (d *Driver) Check(ctx context.Context, nets []*network.Network, attached []*network.Endpoint, repair bool) ([]network.Problem, error) {
	byName := map[string]*network.Network{}
	wantBr, wantIf, wantAnchor := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, n := range nets {
		byName[n.Name] = n
		if isAlias(n) {
			continue
		}
		wantBr[bridgeName(n)] = true
		wantAnchor[networkAnchor(n)] = true
	}
	for _, ep := range attached {
		n := byName[ep.Network]
		if n == nil || isAlias(n) {
			continue
		}
		wantIf[hostIfName(n, ep)] = true
		wantAnchor[endpointAnchor(n, ep)] = true
	}
	var probs []network.Problem
	fix := func(p network.Problem, argv ...string) {
		if repair {
			if _, err := run(ctx, d.h, argv...); err != nil && !gone(err) {
				p.Error = err.Error()
			} else {
				p.Repaired = true
			}
		}
		probs = append(probs, p)
	}
	// Epairs before bridges, anchors last: a bridge goes after its members.
	for _, g := range []struct {
		group, issue string
		want         map[string]bool
	}{
		{endpointGroup, "epair of no running container", wantIf},
		{bridgeGroup, "bridge of no network", wantBr},
	} {
		out, err := run(ctx, d.h, "ifconfig", "-g", g.group)
		if err != nil && !gone(err) {
			return probs, fmt.Errorf("list interfaces of group %s: %w", g.group, err)
		}
		for _, name := range strings.Fields(out) {
			if !g.want[name] {
				fix(network.Problem{What: "interface " + name, Issue: g.issue}, "ifconfig", name, "destroy")
			}
		}
	}
	out, err := run(ctx, d.h, "pfctl", "-a", Anchor, "-s", "Anchors")
	if err != nil && !gone(err) {
		return probs, fmt.Errorf("list pf anchors under %s: %w", Anchor, err)
	}
	var anchors []string
	for _, a := range strings.Fields(out) {
		if !strings.HasPrefix(a, Anchor+"/") {
			a = Anchor + "/" + a
		}
		anchors = append(anchors, a)
	}
	slices.Sort(anchors)
	for _, a := range slices.Compact(anchors) {
		if !wantAnchor[a] {
			fix(network.Problem{What: "pf anchor " + a, Issue: "rules of no network or running container"}, "pfctl", "-a", a, "-F", "all")
		}
	}
	return probs, nil
}
