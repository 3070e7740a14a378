// Package proxy is a userland port forwarder: it accepts TCP connections
// or UDP datagrams on a host address and passes them on to a container's
// address over connections of its own. The network drivers run one where
// the kernel's translation cannot serve a published port (see each
// driver for why); the package itself is portable and has no build tags.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

// UDPIdle is how long a UDP flow through the proxy lives without traffic.
const UDPIdle = 60 * time.Second

// dialTimeout bounds the default dial to the target.
const dialTimeout = 10 * time.Second

// DialFunc opens a connection to addr on network ("tcp" or "udp"), as
// net.Dialer.DialContext does.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Option configures a Proxy.
type Option func(*Proxy)

// WithDial makes the proxy reach its target through dial instead of a
// plain net.Dialer (the Linux driver dials from the host's network
// namespace).
func WithDial(dial DialFunc) Option {
	return func(p *Proxy) {
		if dial != nil {
			p.dial = dial
		}
	}
}

// WithLogger sets where the proxy logs; the default is slog.Default().
func WithLogger(log *slog.Logger) Option {
	return func(p *Proxy) {
		if log != nil {
			p.log = log
		}
	}
}

// Proxy forwards TCP connections or UDP datagrams from one listening
// socket to one target.
type Proxy struct {
	target netip.AddrPort
	ln     net.Listener   // TCP
	pc     net.PacketConn // UDP
	dial   DialFunc
	log    *slog.Logger

	ctx    context.Context // canceled by Close: ends pending dials
	cancel context.CancelFunc

	mu       sync.Mutex
	closed   bool
	paused   bool
	loopDone chan struct{} // closed when the serving loop returns
	active   int           // TCP connections being forwarded
	conns    map[io.Closer]struct{}
	sessions map[string]*udpSession
	wg       sync.WaitGroup
}

// Listen listens on addr for proto ("tcp" or "udp") and forwards what
// arrives to target. An IPv6 listener accepts IPv6 only, so that 0.0.0.0
// and :: can be two proxies on one port.
func Listen(proto string, addr, target netip.AddrPort, opts ...Option) (*Proxy, error) {
	fam := "4"
	if addr.Addr().Is6() && !addr.Addr().Is4In6() {
		fam = "6"
	}
	network, host := proto+fam, addr.String()
	var err error
	switch proto {
	case "tcp":
		var ln net.Listener
		if ln, err = net.Listen(network, host); err == nil {
			return Serve(ln, target, opts...), nil
		}
	case "udp":
		var pc net.PacketConn
		if pc, err = net.ListenPacket(network, host); err == nil {
			return ServePacket(pc, target, opts...), nil
		}
	default:
		err = fmt.Errorf("protocol %q (want tcp or udp)", proto)
	}
	return nil, fmt.Errorf("published port %s/%s: %w", addr, proto, err)
}

// Serve forwards the TCP connections ln accepts to target. The proxy owns
// ln from then on: Close closes it.
func Serve(ln net.Listener, target netip.AddrPort, opts ...Option) *Proxy {
	return start(&Proxy{ln: ln}, target, opts)
}

// ServePacket forwards the UDP datagrams pc receives to target, one flow
// (and one socket to the target) per client address. The proxy owns pc
// from then on: Close closes it.
func ServePacket(pc net.PacketConn, target netip.AddrPort, opts ...Option) *Proxy {
	return start(&Proxy{pc: pc}, target, opts)
}

// start fills in p, which has its listener or packet socket, and starts
// serving it.
func start(p *Proxy, target netip.AddrPort, opts []Option) *Proxy {
	p.target = target
	p.dial = (&net.Dialer{Timeout: dialTimeout}).DialContext
	p.log = slog.Default()
	p.conns = map[io.Closer]struct{}{}
	p.sessions = map[string]*udpSession{}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	for _, o := range opts {
		o(p)
	}
	p.serve()
	return p
}

// serve starts the serving loop; p.mu is held or p not yet shared.
func (p *Proxy) serve() {
	done := make(chan struct{})
	p.loopDone = done
	p.wg.Add(1)
	if p.ln != nil {
		go p.acceptLoop(done)
	} else {
		go p.udpLoop(done)
	}
}

// FromFile forwards to target what arrives on the socket f, a TCP
// listener or a UDP socket (proto "tcp" or "udp") another process passed
// on. The proxy has its own descriptor: the caller closes f.
func FromFile(proto string, f *os.File, target netip.AddrPort, opts ...Option) (*Proxy, error) {
	switch proto {
	case "tcp":
		ln, err := net.FileListener(f)
		if err != nil {
			return nil, fmt.Errorf("forwarder to %s/tcp: %w", target, err)
		}
		return Serve(ln, target, opts...), nil
	case "udp":
		pc, err := net.FilePacketConn(f)
		if err != nil {
			return nil, fmt.Errorf("forwarder to %s/udp: %w", target, err)
		}
		return ServePacket(pc, target, opts...), nil
	}
	return nil, fmt.Errorf("forwarder protocol %q (want tcp or udp)", proto)
}

// Proto is "tcp" or "udp".
func (p *Proxy) Proto() string {
	if p.ln != nil {
		return "tcp"
	}
	return "udp"
}

// Target is the address the proxy forwards to.
func (p *Proxy) Target() netip.AddrPort { return p.target }

// SyscallConn reaches the listening socket, to pass it to another
// process (a dup of its descriptor): Pause first, so that nothing is
// accepted here meanwhile.
func (p *Proxy) SyscallConn() (syscall.RawConn, error) {
	var c any = p.pc
	if p.ln != nil {
		c = p.ln
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("proxy on %s: no socket to pass on", p.Addr())
	}
	return sc.SyscallConn()
}

// Active is the number of TCP connections or UDP flows being forwarded.
func (p *Proxy) Active() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.active + len(p.sessions)
}

// Pause stops accepting connections (or reading datagrams) without
// closing the socket: what arrives waits in the kernel's queue. The
// connections and flows already forwarded go on. Unpause serves again.
func (p *Proxy) Pause() error {
	p.mu.Lock()
	if p.closed || p.paused {
		p.mu.Unlock()
		return nil
	}
	p.paused = true
	done := p.loopDone
	p.mu.Unlock()
	var err error
	if p.ln != nil {
		dl, ok := p.ln.(interface{ SetDeadline(time.Time) error })
		if !ok {
			err = fmt.Errorf("proxy on %s: listener without deadlines", p.ln.Addr())
		} else {
			err = dl.SetDeadline(time.Unix(1, 0))
			defer dl.SetDeadline(time.Time{})
		}
	} else {
		err = p.pc.SetReadDeadline(time.Unix(1, 0))
		defer p.pc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		p.mu.Lock()
		p.paused = false
		p.mu.Unlock()
		return fmt.Errorf("pause proxy on %s: %w", p.Addr(), err)
	}
	<-done
	return nil
}

// Unpause serves again after Pause.
func (p *Proxy) Unpause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || !p.paused {
		return
	}
	p.paused = false
	p.serve()
}

// pausing reports whether Pause or Close ends the serving loop.
func (p *Proxy) pausing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused || p.closed
}

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() net.Addr {
	if p.ln != nil {
		return p.ln.Addr()
	}
	return p.pc.LocalAddr()
}

// Close stops listening, ends every connection and flow, and waits for
// the proxy's goroutines. A second Close does nothing.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.cancel()
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

// CloseAll closes every proxy of ps and reports their errors together.
func CloseAll(ps []*Proxy) error {
	var errs []error
	for _, p := range ps {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
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

// untrack closes c and forgets it.
func (p *Proxy) untrack(c io.Closer) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) acceptLoop(done chan struct{}) {
	defer p.wg.Done()
	defer close(done)
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || p.pausing() {
				return
			}
			// A temporary failure (out of descriptors): wait, go on.
			p.log.Warn("proxy accept", "addr", p.ln.Addr(), "err", err)
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		if !p.track(c) {
			return
		}
		p.mu.Lock()
		p.active++ // before Pause can return: a handover sees it
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serveTCP(c)
	}
}

// serveTCP joins c to a new connection to the target. A direction that
// ends cleanly passes its end on as a half-close; one that fails ends
// both, so that neither side waits on a peer that is gone.
func (p *Proxy) serveTCP(c net.Conn) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		p.active--
		p.mu.Unlock()
	}()
	defer p.untrack(c)
	t, err := p.dial(p.ctx, "tcp", p.target.String())
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
		defer func() { done <- struct{}{} }()
		if _, err := io.Copy(dst, src); err != nil {
			dst.Close()
			src.Close()
			return
		}
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			dst.Close()
		}
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
	conn net.Conn
}

func (p *Proxy) udpLoop(done chan struct{}) {
	defer p.wg.Done()
	defer close(done)
	buf := make([]byte, 65535)
	for {
		n, from, err := p.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || p.pausing() {
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
		s.conn.SetReadDeadline(time.Now().Add(UDPIdle))
		s.conn.Write(buf[:n]) // a lost datagram is UDP's to lose
	}
}

// session returns from's flow, starting it on its first datagram. Only
// udpLoop calls it, so two flows for one client never start at once.
func (p *Proxy) session(from net.Addr) (*udpSession, error) {
	key := from.String()
	p.mu.Lock()
	s := p.sessions[key]
	p.mu.Unlock()
	if s != nil {
		return s, nil
	}
	conn, err := p.dial(p.ctx, "udp", p.target.String())
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
	conn.SetReadDeadline(time.Now().Add(UDPIdle))
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
			conn.SetReadDeadline(time.Now().Add(UDPIdle))
			if _, err := p.pc.WriteTo(buf[:n], from); err != nil {
				return
			}
		}
	}()
	return s, nil
}
