package linux

import (
	"testing"

	"github.com/stockade/stockade/network"
	"github.com/stockade/stockade/network/networktest"
	"github.com/stockade/stockade/network/proxy"
)

// TestHandOffAdopt: the driver pauses an endpoint's forwarders for the
// hand-off, refuses while one forwards a connection, serves a socket
// passed back as the endpoint's, and Detach's stopProxies closes it:
// nothing listens on the port afterwards.
func TestHandOffAdopt(t *testing.T) {
	d, err := New(Config{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	n := &network.Network{ID: "n1", Name: "net1"}
	ep := &network.Endpoint{ContainerID: "c1"}
	owner := EndpointOwner(d.inst, n, ep)
	networktest.HandOff(t, d, n, ep,
		func(ps []*proxy.Proxy) { d.proxies[owner] = ps },
		func() { d.stopProxies(n, ep) })
}
