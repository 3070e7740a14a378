package freebsd

import (
	"github.com/stockade/stockade/network"
	"github.com/stockade/stockade/network/proxy"
)

// Forwards reports whether ep has published ports: each has proxies in the
// monitor for the host's own connections (see startProxies).
func (d *Driver) Forwards(ep *network.Endpoint) bool { return len(ep.Ports) > 0 }

// HandOff pauses ep's published-port proxies and returns them, for the
// small idle monitor, which serves them as they are served here (a plain
// dial to the container through the bridge). It fails with
// engine.ErrForwarding while one of them forwards a connection or a UDP
// flow, pausing nothing.
func (d *Driver) HandOff(n *network.Network, ep *network.Endpoint) ([]*proxy.Proxy, func(), error) {
	anchor := endpointAnchor(n, ep)
	d.mu.Lock()
	ps := append([]*proxy.Proxy(nil), d.proxies[anchor]...)
	d.mu.Unlock()
	resume, err := network.PauseIdle(ps)
	if err != nil {
		return nil, nil, err
	}
	return ps, resume, nil
}

// Adopt serves fs, passed back by the small monitor, as ep's proxies,
// which Detach stops.
func (d *Driver) Adopt(n *network.Network, ep *network.Endpoint, fs []network.Forwarder) error {
	adopted, err := network.AdoptForwarders(fs, proxy.WithLogger(d.log))
	anchor := endpointAnchor(n, ep)
	d.mu.Lock()
	d.proxies[anchor] = append(d.proxies[anchor], adopted...)
	d.mu.Unlock()
	return err
}

var _ network.ForwarderHandOff = (*Driver)(nil)
