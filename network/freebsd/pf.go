package freebsd

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/stockade/stockade/network"
)

// The rules below follow pf.conf(5) of FreeBSD 13 and 14: translation
// rules (nat, rdr) come before filter rules in a ruleset, as pfctl
// requires; "(if)" and "(group:network)" are addresses pf follows as they
// change; "rdr pass" hands the redirected packet through without
// evaluating filter rules; states are floating (pf's default), so replies
// match the state an rdr made wherever they arrive.

// networkRules is the ruleset of a network's anchor: outbound NAT on the
// interfaces that carry the default routes (ext4, ext6; "" when the host
// has none), traffic within the network (and IPv6 neighbour discovery)
// passed, traffic to any other stockade network blocked (the bridges'
// group, as pf follows it: "(stockade:network)"), and for an internal
// network everything else that leaves the network blocked.
func networkRules(n *network.Network, ext4, ext6 string) string {
	var b strings.Builder
	br := bridgeName(n)
	fmt.Fprintf(&b, "# stockade network %s (%s)\n", n.Name, n.ID)
	type fam struct {
		af     string
		subnet netip.Prefix
		ext    string
	}
	fams := []fam{{"inet", n.Subnet, ext4}}
	if n.Subnet6.IsValid() {
		fams = append(fams, fam{"inet6", n.Subnet6, ext6})
	}
	for _, f := range fams {
		if !n.Internal && f.ext != "" {
			fmt.Fprintf(&b, "nat on %s %s from %s to ! %s -> (%s)\n", f.ext, f.af, f.subnet, f.subnet, f.ext)
		}
	}
	for _, f := range fams {
		if f.af == "inet6" {
			// Neighbour discovery runs between link-local addresses,
			// which are in no subnet of the network.
			fmt.Fprintf(&b, "pass in quick on %s inet6 proto icmp6 icmp6-type { neighbrsol, neighbradv, routersol }\n", br)
		}
		fmt.Fprintf(&b, "pass in quick on %s %s from %s to %s\n", br, f.af, f.subnet, f.subnet)
		fmt.Fprintf(&b, "block drop in quick on %s %s from any to (%s:network)\n", br, f.af, bridgeGroup)
		if n.Internal {
			fmt.Fprintf(&b, "block drop in quick on %s %s from any to any\n", br, f.af)
		}
	}
	return b.String()
}

// rdrTag marks the packets a published port's rdr redirected, so that the
// hairpin NAT rewrites those only, not the network's direct traffic to the
// same container port.
const rdrTag = "STOCKADE_RDR"

// endpointRules is the ruleset of a container's anchor on a bridge
// network: for each published port not bound to a loopback address, an
// rdr from the host's addresses (or the one asked) on every interface but
// lo0 to the container, tagged, and a NAT of the tagged packets from the
// network itself (hairpin: a container that reaches a published port
// through the host gets the answer back through the host). Loopback traffic is the
// proxy's; see startProxies in driver.go. It returns "" when there is nothing to load.
func endpointRules(n *network.Network, ep *network.Endpoint) string {
	var nat, rdr []string
	seen := map[string]bool{}
	br := bridgeName(n)
	for _, p := range ep.Ports {
		if p.HostIP.IsValid() && p.HostIP.IsLoopback() {
			continue
		}
		type fam struct {
			af         string
			to         string
			ctr        netip.Addr
			subnet     netip.Prefix
			gateway    netip.Addr
			applicable bool
		}
		to := "self"
		if p.HostIP.IsValid() && !p.HostIP.IsUnspecified() {
			to = p.HostIP.String()
		}
		v4 := !p.HostIP.IsValid() || p.HostIP.Unmap().Is4()
		v6 := (!p.HostIP.IsValid() || (p.HostIP.Is6() && !p.HostIP.Is4In6())) && ep.Addr6.IsValid()
		for _, f := range []fam{
			{"inet", to, ep.Addr.Addr(), n.Subnet, n.Gateway, v4},
			{"inet6", to, ep.Addr6.Addr(), n.Subnet6, n.Gateway6, v6},
		} {
			if !f.applicable {
				continue
			}
			rdr = append(rdr, fmt.Sprintf("rdr pass on ! lo0 %s proto %s from any to %s port %d tag %s -> %s port %d",
				f.af, p.Protocol, f.to, p.HostPort, rdrTag, f.ctr, p.ContainerPort))
			key := fmt.Sprintf("%s/%s/%d", f.af, p.Protocol, p.ContainerPort)
			if !seen[key] && f.gateway.IsValid() {
				seen[key] = true
				nat = append(nat, fmt.Sprintf("nat on %s %s proto %s from %s to %s port %d tagged %s -> %s",
					br, f.af, p.Protocol, f.subnet, f.ctr, p.ContainerPort, rdrTag, f.gateway))
			}
		}
	}
	if len(rdr) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# stockade container %s (%s) on network %s\n", ep.ContainerName, ep.ContainerID, n.Name)
	for _, l := range append(nat, rdr...) {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// checkPorts refuses published ports the driver cannot make: an unknown
// protocol, port 0, or an IPv6 host address for a container without IPv6.
func checkPorts(ep *network.Endpoint) error {
	for _, p := range ep.Ports {
		if p.Protocol != "tcp" && p.Protocol != "udp" {
			return fmt.Errorf("published port %d: protocol %q (want tcp or udp)", p.HostPort, p.Protocol)
		}
		if p.HostPort == 0 || p.ContainerPort == 0 {
			return fmt.Errorf("published port %d:%d: port 0", p.HostPort, p.ContainerPort)
		}
		if p.HostIP.Is6() && !p.HostIP.Is4In6() && !p.HostIP.IsUnspecified() && !p.HostIP.IsLoopback() && !ep.Addr6.IsValid() {
			return fmt.Errorf("published port [%s]:%d: the container has no IPv6 address on network %s", p.HostIP, p.HostPort, ep.Network)
		}
	}
	return nil
}
