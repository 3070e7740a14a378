package network

import (
	"errors"
	"fmt"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/network/proxy"
)

// PauseIdle pauses a driver's forwarders ps for a hand-off to the small
// idle monitor and returns what serves them again. It fails with
// engine.ErrForwarding, leaving them all serving, while one of them
// forwards a connection or a UDP flow: the execve would cut it.
func PauseIdle(ps []*proxy.Proxy) (resume func(), err error) {
	resume = func() {
		for _, p := range ps {
			p.Unpause()
		}
	}
	for _, p := range ps {
		if err := p.Pause(); err != nil {
			resume()
			return nil, err
		}
	}
	for _, p := range ps {
		if p.Active() > 0 {
			resume()
			return nil, fmt.Errorf("port to %s/%s: %w", p.Target(), p.Proto(), engine.ErrForwarding)
		}
	}
	return resume, nil
}

// AdoptForwarders serves the sockets fs, passed back by the small
// monitor, as proxies with opts; the drivers' Adopt keeps what it
// returns as the endpoint's. A socket that cannot be served is an error
// of the join; the others are served.
func AdoptForwarders(fs []Forwarder, opts ...proxy.Option) ([]*proxy.Proxy, error) {
	var adopted []*proxy.Proxy
	var errs []error
	for _, f := range fs {
		px, err := proxy.FromFile(f.Proto, f.File, f.Target, opts...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		adopted = append(adopted, px)
	}
	return adopted, errors.Join(errs...)
}
