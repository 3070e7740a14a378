package freebsd

import (
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stockade/stockade/network"
	"github.com/stockade/stockade/network/networktest"
)

// TestConformance runs the drivers' conformance suite over the recording
// fake: what the suite observes (interfaces, their addresses, rules) is
// the fake's model of the host, changed only through the commands the
// driver ran. The published-port proxies bind real ports on this host.
func TestConformance(t *testing.T) {
	var mu sync.Mutex
	hosts := map[*testing.T]*fakeHost{}
	nextPid := 5000
	hostOf := func(d network.Driver) *fakeHost { return d.(*Driver).h.(*fakeHost) }
	networktest.Run(t, networktest.Config{
		New: func(t *testing.T) network.Driver {
			mu.Lock()
			defer mu.Unlock()
			h := hosts[t]
			if h == nil {
				h = newFakeHost()
				for k, v := range map[string]string{
					"sysctl -i kern.osreldate net.inet.ip.forwarding net.inet6.ip6.forwarding": "kern.osreldate: 1402000\nnet.inet.ip.forwarding: 1\nnet.inet6.ip6.forwarding: 1\n",
					"pfctl -s info":               "Status: Enabled for 0 days 00:00:01\n",
					"pfctl -s nat":                "nat-anchor \"stockade/*\" all\nrdr-anchor \"stockade/*\" all\n",
					"pfctl -s rules":              "anchor \"stockade/*\" all\n",
					"route -n get -inet default":  "  interface: em0\n",
					"route -n get -inet6 default": "  interface: em0\n",
				} {
					h.out[k] = v
				}
				hosts[t] = h
			}
			return New(h, nil)
		},
		Network: func(t *testing.T, o networktest.NetworkOptions) *network.Network {
			id := networktest.RandomID(t)
			n := &network.Network{Name: "n" + id[:6], ID: id, Driver: "bridge", Interface: "stk-" + id[:8], Internal: o.Internal}
			b := id[0]
			n.Subnet = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 77, b, 0}), 24)
			n.Gateway = n.Subnet.Addr().Next()
			if o.IPv6 {
				n.Subnet6 = netip.MustParsePrefix("fd77:" + id[:4] + "::/64")
				n.Gateway6 = n.Subnet6.Addr().Next()
			}
			return n
		},
		Sandbox: func(t *testing.T, d network.Driver, containerID string) network.Sandbox {
			mu.Lock()
			nextPid++
			pid := nextPid
			mu.Unlock()
			h := hostOf(d)
			h.mu.Lock()
			h.out["ps -o jid= -p "+strconv.Itoa(pid)] = strconv.Itoa(pid-4000) + "\n"
			h.mu.Unlock()
			return network.Sandbox{ContainerID: containerID, Pid: pid}
		},
		Probe: fakeProbe{hostOf},
	})
}

type fakeProbe struct {
	hostOf func(network.Driver) *fakeHost
}

func (p fakeProbe) HostInterface(t *testing.T, d network.Driver, name string) ([]netip.Prefix, bool) {
	h := p.hostOf(d)
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.ifs[name]
	return h.addrs[name], ok
}

func (p fakeProbe) SandboxInterface(t *testing.T, d network.Driver, sb network.Sandbox, name string) ([]netip.Prefix, bool) {
	h := p.hostOf(d)
	h.mu.Lock()
	defer h.mu.Unlock()
	jid := strings.TrimSpace(h.out["ps -o jid= -p "+strconv.Itoa(sb.Pid)])
	key := jid + ":" + name
	_, ok := h.ifs[key]
	return h.addrs[key], ok
}

// SandboxGone: the driver makes no sandbox; the vnet jail is the runtime's.
func (fakeProbe) SandboxGone(*testing.T, network.Driver, network.Sandbox) bool { return true }

// Rules counts the rules loaded in the network's or the endpoint's anchor.
func (p fakeProbe) Rules(t *testing.T, d network.Driver, n *network.Network, ep *network.Endpoint) int {
	h := p.hostOf(d)
	h.mu.Lock()
	defer h.mu.Unlock()
	anchor := networkAnchor(n)
	if ep != nil {
		anchor = endpointAnchor(n, ep)
	}
	count := 0
	for _, l := range strings.Split(h.stdin[anchor], "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			count++
		}
	}
	return count
}
