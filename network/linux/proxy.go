package linux

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// proxy is a userland TCP forwarder: it accepts on one listener and
// copies each connection to and from target. The Linux driver runs one
// for each port published on [::1], which no nftables rule can forward
// (IPv6 has no route_localnet: the kernel drops a packet with the source
// ::1 routed to any other interface, so a DNAT to a container never
// leaves the host).
type proxy struct {
	ln     net.Listener
	target string
	dial   func(network, addr string) (net.Conn, error)

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// startProxy serves ln, forwarding to target through dial.
func startProxy(ln net.Listener, target string, dial func(network, addr string) (net.Conn, error)) *proxy {
	p := &proxy{ln: ln, target: target, dial: dial, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p
}

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				slog.Warn("port proxy stopped", "listen", p.ln.Addr().String(), "err", err)
			}
			return
		}
		if !p.track(c, true) {
			c.Close()
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.track(c, false)
			p.forward(c)
		}()
	}
}

// track adds or removes a connection; it reports false once the proxy is
// closed.
func (p *proxy) track(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !add {
		delete(p.conns, c)
		return true
	}
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) forward(c net.Conn) {
	defer c.Close()
	up, err := p.dial("tcp", p.target)
	if err != nil {
		slog.Debug("port proxy: dial", "target", p.target, "err", err)
		return
	}
	if !p.track(up, true) {
		up.Close()
		return
	}
	defer p.track(up, false)
	defer up.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(up, c)
		closeWrite(up)
		close(done)
	}()
	io.Copy(c, up)
	closeWrite(c)
	<-done
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
	}
}

// Close stops accepting, ends the open connections and waits for them.
func (p *proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.ln.Close()
	for c := range p.conns {
		c.SetDeadline(time.Now())
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
