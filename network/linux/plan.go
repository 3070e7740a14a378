// Package linux is stockade's network driver for Linux: one bridge per
// network, one veth pair per container whose inner end lives in the
// container's own named network namespace (handed to runc by path in the
// spec), addresses and routes set through netlink, and outbound NAT,
// published ports and isolation between networks as nftables rules in
// stockade's own table, inet stockade.
//
// What rules a network and an endpoint need is planned here, in portable
// code (NetworkRules, EndpointRules) that renders each rule in nft's own
// syntax for tests and documentation; the Linux layer only compiles the
// plan to nftables expressions and applies it. Every rule carries a
// comment naming its owner (a network or one container's endpoint), which
// is how Detach, RemoveNetwork and Check find exactly their rules.
package linux

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/stockade/stockade/network"
)

// TableName is stockade's nftables table (family inet).
const TableName = "stockade"

// BridgesSet is the set of interface names in TableName holding every
// stockade bridge; the isolation rules match it.
const BridgesSet = "bridges"

// Chain is one of the base chains of TableName.
type Chain string

// The base chains: a filter chain on forward, and nat chains on
// prerouting (published ports reached from outside and from containers),
// output (published ports reached from the host itself) and postrouting
// (outbound NAT, hairpin and localhost masquerade).
const (
	Forward     Chain = "forward"
	Prerouting  Chain = "prerouting"
	Output      Chain = "output"
	Postrouting Chain = "postrouting"
)

// Chains lists the base chains in the order they are created.
var Chains = []Chain{Forward, Prerouting, Output, Postrouting}

// Verdict is what a rule does with a packet it matches.
type Verdict int

// Verdicts.
const (
	Accept Verdict = iota
	Drop
	Masquerade
	DNAT
)

// Family restricts a rule to one IP version.
type Family int

// Families: Any matches both.
const (
	Any Family = iota
	IPv4
	IPv6
)

// Rule is one planned nftables rule. Empty fields match anything.
type Rule struct {
	Chain Chain
	// First puts the rule at the head of its chain, before the rules
	// that accept traffic (internal networks' drops).
	First bool
	// Owner is the rule's comment: NetworkOwner or EndpointOwner.
	Owner  string
	Family Family
	// IIF and OIF match interface names, negated by NotIIF and NotOIF.
	IIF, OIF       string
	NotIIF, NotOIF bool
	// OIFBridge matches packets leaving through any stockade bridge
	// (oifname @bridges).
	OIFBridge bool
	// Src and Dst match address ranges of Family, Dst negated by NotDst.
	Src, Dst netip.Prefix
	NotDst   bool
	// DstLocal matches packets for one of the host's own addresses
	// (fib daddr type local), 127.0.0.1 and ::1 included.
	DstLocal bool
	// CtDNAT matches connections whose destination was translated.
	CtDNAT bool
	// Proto ("tcp" or "udp") and DPort match the transport header.
	Proto string
	DPort uint16
	// Verdict is what a match does; To is DNAT's target.
	Verdict Verdict
	To      netip.AddrPort
}

// StaticOwner is the comment of the rules every stockade table has.
const StaticOwner = "stockade"

// NetworkOwner is the comment of a network's rules; inst is the
// driver's Instance.
func NetworkOwner(inst string, n *network.Network) string { return "net:" + inst + ":" + n.ID }

// EndpointOwner is the comment of an endpoint's rules.
func EndpointOwner(inst string, n *network.Network, ep *network.Endpoint) string {
	return "ep:" + inst + ":" + n.ID + ":" + ep.ContainerID
}

// parseOwner reads a comment written by NetworkOwner, EndpointOwner or
// the static rules.
func parseOwner(c string) (kind, inst, networkID, containerID string) {
	if c == StaticOwner {
		return "static", "", "", ""
	}
	f := strings.Split(c, ":")
	switch {
	case len(f) == 3 && f[0] == "net" && f[1] != "" && f[2] != "":
		return "network", f[1], f[2], ""
	case len(f) == 4 && f[0] == "ep" && f[1] != "" && f[2] != "" && f[3] != "":
		return "endpoint", f[1], f[2], f[3]
	}
	return "", "", "", ""
}

// StaticRules are the rules the table has whatever its networks: traffic
// to a published port (destination-translated) passes the forward chain
// whatever networks it crosses, as it would from another host.
func StaticRules() []Rule {
	return []Rule{{Chain: Forward, Owner: StaticOwner, CtDNAT: true, Verdict: Accept}}
}

var (
	loopback4 = netip.MustParsePrefix("127.0.0.0/8")
	loopback6 = netip.MustParsePrefix("::1/128")
)

// NetworkRules plans a network's rules:
//   - isolation: nothing is forwarded from its bridge into another
//     stockade bridge (published ports excepted, by StaticRules);
//   - a network that is not internal masquerades its subnets' traffic
//     leaving through any other interface;
//   - an internal network forwards nothing in or out (these rules go
//     first, before the published-port accept);
//   - hairpin: a container reaching a published port of its own network
//     through a host address is masqueraded, so the answer comes back
//     through the host;
//   - localhost: connections from 127.0.0.0/8 and ::1 translated to a
//     container are masqueraded to the bridge's address, the only source
//     the container can answer (the bridge also needs route_localnet).
func NetworkRules(inst string, n *network.Network) ([]Rule, error) {
	if !n.Subnet.IsValid() || !n.Subnet.Addr().Is4() {
		return nil, fmt.Errorf("network %s: IPv4 subnet %q is not valid", n.Name, n.Subnet)
	}
	if n.Subnet6.IsValid() && !n.Subnet6.Addr().Is6() {
		return nil, fmt.Errorf("network %s: IPv6 subnet %q is not IPv6", n.Name, n.Subnet6)
	}
	br := bridgeName(n)
	if err := validIfName(br); err != nil {
		return nil, fmt.Errorf("network %s: bridge: %w", n.Name, err)
	}
	own := NetworkOwner(inst, n)
	var rules []Rule
	if n.Internal {
		rules = append(rules,
			Rule{Chain: Forward, First: true, Owner: own, IIF: br, OIF: br, NotOIF: true, Verdict: Drop},
			Rule{Chain: Forward, First: true, Owner: own, OIF: br, IIF: br, NotIIF: true, Verdict: Drop},
		)
	} else {
		rules = append(rules, Rule{Chain: Forward, Owner: own, IIF: br, OIFBridge: true, OIF: br, NotOIF: true, Verdict: Drop})
	}
	type fam struct {
		f      Family
		subnet netip.Prefix
		lo     netip.Prefix
	}
	fams := []fam{{IPv4, n.Subnet, loopback4}}
	if n.Subnet6.IsValid() {
		fams = append(fams, fam{IPv6, n.Subnet6, loopback6})
	}
	for _, f := range fams {
		if !n.Internal {
			rules = append(rules, Rule{Chain: Postrouting, Owner: own, Family: f.f, Src: f.subnet, OIF: br, NotOIF: true, Verdict: Masquerade})
		}
		rules = append(rules,
			Rule{Chain: Postrouting, Owner: own, Family: f.f, Src: f.subnet, OIF: br, CtDNAT: true, Verdict: Masquerade},
			Rule{Chain: Postrouting, Owner: own, Family: f.f, Src: f.lo, OIF: br, CtDNAT: true, Verdict: Masquerade},
		)
	}
	return rules, nil
}

// EndpointRules plans the published ports of ep on n: each port is
// translated in prerouting (from other hosts and from containers) and in
// output (from the host itself), for the host address it is bound to or
// for every local address, in each IP version the container has.
func EndpointRules(inst string, n *network.Network, ep *network.Endpoint) ([]Rule, error) {
	own := EndpointOwner(inst, n, ep)
	var rules []Rule
	for _, p := range ep.Ports {
		if p.Protocol != "tcp" && p.Protocol != "udp" {
			return nil, fmt.Errorf("port %d/%s: protocol must be tcp or udp", p.HostPort, p.Protocol)
		}
		if p.HostPort == 0 || p.ContainerPort == 0 {
			return nil, fmt.Errorf("port %d:%d/%s: ports must be 1 to 65535", p.HostPort, p.ContainerPort, p.Protocol)
		}
		host := p.HostIP
		if host.IsValid() && host.IsUnspecified() {
			host = netip.Addr{}
		}
		var fams []Family
		switch {
		case !host.IsValid():
			fams = append(fams, IPv4)
			if ep.Addr6.IsValid() {
				fams = append(fams, IPv6)
			}
		case host.Unmap().Is4():
			host = host.Unmap()
			fams = append(fams, IPv4)
		case host == loopback6.Addr():
			// No rule: LoopbackProxies.
		default:
			if !ep.Addr6.IsValid() {
				return nil, fmt.Errorf("port %s: the container has no IPv6 address on network %s", netip.AddrPortFrom(host, p.HostPort), n.Name)
			}
			fams = append(fams, IPv6)
		}
		for _, f := range fams {
			to := ep.Addr.Addr()
			if f == IPv6 {
				to = ep.Addr6.Addr()
			}
			if !to.IsValid() {
				return nil, fmt.Errorf("container %s has no address on network %s", ep.ContainerID, n.Name)
			}
			r := Rule{Owner: own, Family: f, Proto: p.Protocol, DPort: p.HostPort, Verdict: DNAT, To: netip.AddrPortFrom(to, p.ContainerPort)}
			switch {
			case host.IsValid():
				r.Dst = netip.PrefixFrom(host, host.BitLen())
			case f == IPv6:
				// [::1] is the proxy's: a translated packet from ::1
				// would never leave the host.
				r.DstLocal, r.Dst, r.NotDst = true, loopback6, true
			default:
				r.DstLocal = true
			}
			for _, c := range []Chain{Prerouting, Output} {
				r.Chain = c
				rules = append(rules, r)
			}
		}
	}
	return rules, nil
}

// Proxy is a userland forwarder the driver runs for a published port:
// connections to Listen go to Target.
type Proxy struct {
	// Protocol is "tcp" or "udp".
	Protocol       string
	Listen, Target netip.AddrPort
}

// LoopbackProxies plans the proxies of ep's published ports (TCP and UDP) on [::1]
// (every port published on all host addresses or on ::1): no nftables
// rule can forward from ::1, since IPv6 has no route_localnet. The
// target is the container's IPv6 address, or its IPv4 one, so [::1]
// reaches IPv4-only containers too. UDP is not proxied.
func LoopbackProxies(ep *network.Endpoint) []Proxy {
	var out []Proxy
	for _, p := range ep.Ports {
		host := p.HostIP
		if host.IsValid() && !host.IsUnspecified() && host != loopback6.Addr() {
			continue
		}
		to := ep.Addr.Addr()
		if ep.Addr6.IsValid() {
			to = ep.Addr6.Addr()
		}
		out = append(out, Proxy{Protocol: p.Protocol, Listen: netip.AddrPortFrom(loopback6.Addr(), p.HostPort), Target: netip.AddrPortFrom(to, p.ContainerPort)})
	}
	return out
}

// String renders r in nft's syntax, with its chain first:
//
//	postrouting: meta nfproto ipv4 ip saddr 10.88.0.0/16 oifname != "stk0" masquerade comment "net:…"
func (r Rule) String() string {
	var b strings.Builder
	b.WriteString(string(r.Chain))
	b.WriteString(":")
	if r.First {
		b.WriteString(" (first)")
	}
	w := func(format string, args ...any) { fmt.Fprintf(&b, " "+format, args...) }
	ip := "ip"
	switch r.Family {
	case IPv4:
		w("meta nfproto ipv4")
	case IPv6:
		w("meta nfproto ipv6")
		ip = "ip6"
	}
	not := func(n bool) string {
		if n {
			return "!= "
		}
		return ""
	}
	if r.IIF != "" {
		w("iifname %s%q", not(r.NotIIF), r.IIF)
	}
	if r.OIFBridge {
		w("oifname @%s", BridgesSet)
	}
	if r.OIF != "" {
		w("oifname %s%q", not(r.NotOIF), r.OIF)
	}
	if r.Src.IsValid() {
		w("%s saddr %s", ip, r.Src)
	}
	if r.Dst.IsValid() {
		w("%s daddr %s%s", ip, not(r.NotDst), r.Dst)
	}
	if r.DstLocal {
		w("fib daddr type local")
	}
	if r.CtDNAT {
		w("ct status dnat")
	}
	if r.Proto != "" {
		w("meta l4proto %s", r.Proto)
	}
	if r.DPort != 0 {
		w("th dport %d", r.DPort)
	}
	switch r.Verdict {
	case Accept:
		w("accept")
	case Drop:
		w("drop")
	case Masquerade:
		w("masquerade")
	case DNAT:
		w("dnat %s to %s", ip, r.To)
	}
	w("comment %q", r.Owner)
	return b.String()
}
