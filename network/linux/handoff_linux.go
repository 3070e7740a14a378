package linux

import (
	"fmt"

	"github.com/stockade/stockade/network"
	"github.com/stockade/stockade/network/proxy"
)

// HandOff pauses ep's [::1] forwarders and returns them, for the small
// idle monitor, which forwards with a plain dial: it is in the host's
// namespace as this process is. A driver whose host namespace is another
// (Config.HostNetNS, tests) keeps its forwarders. It fails with
// engine.ErrForwarding while a forwarder passes a connection or a UDP
// flow on, pausing nothing.
func (d *Driver) HandOff(n *network.Network, ep *network.Endpoint) ([]*proxy.Proxy, func(), error) {
	if d.cfg.HostNetNS != "" {
		return nil, nil, fmt.Errorf("forwarders dial from the namespace %s: they cannot be passed on", d.cfg.HostNetNS)
	}
	owner := EndpointOwner(d.inst, n, ep)
	d.mu.Lock()
	ps := append([]*proxy.Proxy(nil), d.proxies[owner]...)
	d.mu.Unlock()
	resume, err := network.PauseIdle(ps)
	if err != nil {
		return nil, nil, err
	}
	return ps, resume, nil
}

// Adopt serves fs, passed back by the small monitor, as ep's [::1]
// forwarders, which Detach stops. Forwarders ep already has stay (none,
// after a handover).
func (d *Driver) Adopt(n *network.Network, ep *network.Endpoint, fs []network.Forwarder) error {
	adopted, err := network.AdoptForwarders(fs, proxy.WithDial(d.dialFromHost))
	owner := EndpointOwner(d.inst, n, ep)
	d.mu.Lock()
	d.proxies[owner] = append(d.proxies[owner], adopted...)
	d.mu.Unlock()
	return err
}

var _ network.ForwarderHandOff = (*Driver)(nil)
