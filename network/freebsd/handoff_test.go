package freebsd

import (
	"testing"

	"github.com/stockade/stockade/network"
	"github.com/stockade/stockade/network/networktest"
	"github.com/stockade/stockade/network/proxy"
)

// TestHandOffAdopt: the published-port proxies are paused and handed off
// once no connection goes through them, a socket passed back is served as
// the endpoint's proxy, and stopping the endpoint's proxies closes it.
func TestHandOffAdopt(t *testing.T) {
	d, _ := newTestDriver()
	n := &network.Network{ID: "n1", Name: "net1"}
	ep := &network.Endpoint{ContainerID: ctrID, Ports: []network.PortMapping{{Protocol: "tcp", HostPort: 8080, ContainerPort: 80}}}
	if !d.Forwards(ep) || d.Forwards(&network.Endpoint{ContainerID: ctrID}) {
		t.Error("Forwards: want true for an endpoint with published ports only")
	}
	anchor := endpointAnchor(n, ep)
	networktest.HandOff(t, d, n, ep,
		func(ps []*proxy.Proxy) { d.proxies[anchor] = ps },
		func() { d.stopProxies(anchor) })
}
