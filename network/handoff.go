package network

import (
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
