package freebsd

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Why a userland proxy. pf translates a packet when it crosses an
// interface: rdr rewrites the destination of packets coming in. A
// connection the host makes to 127.0.0.1 (or ::1, or one of its own
// addresses, which FreeBSD also routes through lo0) leaves and re-enters
// on lo0 with the source 127.0.0.1. An rdr on lo0 does rewrite its
// destination to the container, and the state shows it, but the source
// stays 127.0.0.1: the container answers its own loopback and the
// connection never completes. So published ports are rdr rules for
// traffic from other hosts and from containers (every interface but
// lo0), and a proxy in the container's monitor for traffic from the host
// itself: it listens on the published address and port and opens its own
// connection to the container, through the bridge, from the bridge's
// address. The proxy lives and dies with the monitor, so a kill -9 leaves
// no listener behind, and a port someone already holds fails the attach
// naming the port, before the container starts.

// udpIdle is how long a UDP flow through the proxy lives without traffic.
const udpIdle = 60 * time.Second

// dialTimeout bounds a connection to the container.
const dialTimeout = 10 * time.Second

// Proxy forwards TCP connections or UDP datagrams from a host address to
// a container's address.
type Proxy struct {
	proto  string
	target netip.AddrPort
	ln     net.Listener
	pc     net.PacketConn
	log    *slog.Logger

	mu       sync.Mutex
	closed   bool
	conns    map[io.Closer]struct{}
	sessions map[string]*udpSession
	wg       sync.WaitGroup
}

// ListenProxy listens on addr for proto ("tcp" or "udp") and forwards
// what arrives to target. An IPv6 listener accepts IPv6 only, so that
// 0.0.0.0 and :: can be two proxies on one port.
func ListenProxy(proto string, addr, target netip.AddrPort, log *slog.Logger) (*Proxy, error) {
	if log == nil {
		log = slog.Default()
	}
	p := &Proxy{proto: proto, target: target, log: log, conns: map[io.Closer]struct{}{}, sessions: map[string]*udpSession{}}
	fam := "4"
	if addr.Addr().Is6() && !addr.Addr().Is4In6() {
		fam = "6"
	}
	var err error
	switch proto {
	case "tcp":
		p.ln, err = net.Listen("tcp"+fam, addr.String())
	case "udp":
		p.pc, err = net.ListenPacket("udp"+fam, addr.String())
	default:
		return nil, fmt.Errorf("published port %s/%s: protocol %q (want tcp or udp)", addr, proto, proto)
	}
	if err != nil {
		return nil, fmt.Errorf("published port %s/%s: %w", addr, proto, err)
	}
	p.wg.Add(1)
	if p.ln != nil {
		go p.acceptLoop()
	} else {
		go p.udpLoop()
	}
	return p, nil
}

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() net.Addr {
	if p.ln != nil {
		return p.ln.Addr()
	}
	return p.pc.LocalAddr()
}

// Close stops listening, ends every connection and flow, and waits for
// the proxy's goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	var err error
	if p.ln != nil {
		err = p.ln.Close()
	} else {
		err = p.pc.Close()
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// track registers c to be closed by Close; it reports false (and closes
// c) when the proxy is already closed.
func (p *Proxy) track(c io.Closer) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c io.Closer) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			p.log.Warn("proxy accept", "addr", p.ln.Addr(), "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if !p.track(c) {
			return
		}
		p.wg.Add(1)
		go p.serveTCP(c)
	}
}

// serveTCP joins c to a new connection to the target, passing each
// direction's end (a half-close) on to the other side.
func (p *Proxy) serveTCP(c net.Conn) {
	defer p.wg.Done()
	defer p.untrack(c)
	d := net.Dialer{Timeout: dialTimeout}
	t, err := d.Dial("tcp", p.target.String())
	if err != nil {
		p.log.Debug("proxy dial", "target", p.target, "err", err)
		return
	}
	if !p.track(t) {
		return
	}
	defer p.untrack(t)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			dst.Close()
		}
		done <- struct{}{}
	}
	go pipe(t, c)
	go pipe(c, t)
	<-done
	<-done
}

// udpSession is one client's flow: datagrams from the client go out on a
// socket connected to the target, and what comes back on it goes to the
// client.
type udpSession struct {
	conn *net.UDPConn
}

func (p *Proxy) udpLoop() {
	defer p.wg.Done()
	buf := make([]byte, 65535)
	for {
		n, from, err := p.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			p.log.Warn("proxy read", "addr", p.pc.LocalAddr(), "err", err)
			continue
		}
		s, err := p.session(from)
		if err != nil {
			p.log.Debug("proxy dial", "target", p.target, "err", err)
			continue
		}
		s.conn.SetReadDeadline(time.Now().Add(udpIdle))
		s.conn.Write(buf[:n])
	}
}

// session returns from's flow, starting it on its first datagram.
func (p *Proxy) session(from net.Addr) (*udpSession, error) {
	key := from.String()
	p.mu.Lock()
	s := p.sessions[key]
	p.mu.Unlock()
	if s != nil {
		return s, nil
	}
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(p.target))
	if err != nil {
		return nil, err
	}
	if !p.track(conn) {
		return nil, net.ErrClosed
	}
	s = &udpSession{conn: conn}
	p.mu.Lock()
	p.sessions[key] = s
	p.mu.Unlock()
	conn.SetReadDeadline(time.Now().Add(udpIdle))
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer func() {
			p.mu.Lock()
			delete(p.sessions, key)
			p.mu.Unlock()
			p.untrack(conn)
		}()
		buf := make([]byte, 65535)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return // idle, closed or refused: the flow ends
			}
			if _, err := p.pc.WriteTo(buf[:n], from); err != nil {
				return
			}
		}
	}()
	return s, nil
}
