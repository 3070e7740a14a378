package nameserver

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"

	mdns "github.com/miekg/dns"
)

// handle answers one query: locally when the name is the network's,
// otherwise from the upstreams.
func (s *Server) handle(ctx context.Context, w mdns.ResponseWriter, r *mdns.Msg) {
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	default:
		s.log.Debug("dns server: busy, refusing query", "client", w.RemoteAddr())
		s.write(w, r, reply(r, mdns.RcodeServerFailure))
		return
	}
	var m *mdns.Msg
	switch {
	case !s.allowed(w.RemoteAddr()):
		m = reply(r, mdns.RcodeRefused)
	case r.Response || r.Opcode != mdns.OpcodeQuery:
		m = reply(r, mdns.RcodeNotImplemented)
	case len(r.Question) != 1:
		m = reply(r, mdns.RcodeFormatError)
	default:
		m = s.answer(ctx, r)
		if m == nil {
			m = s.forward(ctx, r, s.upstreamsFor(ctx, w.RemoteAddr()))
		}
	}
	s.write(w, r, m)
}

// reply is an empty reply to r with rcode, carrying an OPT record when r
// had one.
func reply(r *mdns.Msg, rcode int) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetRcode(r, rcode)
	m.RecursionAvailable = true
	if o := r.IsEdns0(); o != nil {
		m.SetEdns0(mdns.DefaultMsgSize, false)
	}
	return m
}

// write sends m, truncated to what a UDP client can take.
func (s *Server) write(w mdns.ResponseWriter, r, m *mdns.Msg) {
	m.Id = r.Id
	if _, udp := w.LocalAddr().(*net.UDPAddr); udp {
		size := mdns.MinMsgSize
		if o := r.IsEdns0(); o != nil {
			size = max(int(o.UDPSize()), mdns.MinMsgSize)
		}
		m.Truncate(size)
	}
	if err := w.WriteMsg(m); err != nil {
		s.log.Debug("dns server: write reply", "client", w.RemoteAddr(), "err", err)
	}
}

// answer is the local answer to r, or nil when the name is not the
// network's and the query goes upstream.
func (s *Server) answer(ctx context.Context, r *mdns.Msg) *mdns.Msg {
	q := r.Question[0]
	if q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY {
		return nil
	}
	name := strings.ToLower(q.Name)
	if addr, ok := reverseName(name); ok {
		return s.answerPTR(ctx, r, addr)
	}
	bare := strings.TrimSuffix(name, ".")
	inDomain := false
	switch {
	case bare == "":
		return nil
	case bare == s.domain:
		// The domain's apex exists and has no addresses.
		m := reply(r, mdns.RcodeSuccess)
		m.Authoritative = true
		return m
	case strings.HasSuffix(bare, "."+s.domain):
		bare = strings.TrimSuffix(bare, "."+s.domain)
		inDomain = true
	}
	addrs, ok := s.cfg.Lookup(ctx, bare)
	if !ok {
		if inDomain {
			m := reply(r, mdns.RcodeNameError)
			m.Authoritative = true
			return m
		}
		return nil
	}
	m := reply(r, mdns.RcodeSuccess)
	m.Authoritative = true
	hdr := mdns.RR_Header{Name: q.Name, Class: mdns.ClassINET, Ttl: s.ttl}
	for _, a := range addrs {
		a = a.Unmap()
		switch {
		case a.Is4() && (q.Qtype == mdns.TypeA || q.Qtype == mdns.TypeANY):
			h := hdr
			h.Rrtype = mdns.TypeA
			m.Answer = append(m.Answer, &mdns.A{Hdr: h, A: net.IP(a.AsSlice())})
		case a.Is6() && (q.Qtype == mdns.TypeAAAA || q.Qtype == mdns.TypeANY):
			h := hdr
			h.Rrtype = mdns.TypeAAAA
			m.Answer = append(m.Answer, &mdns.AAAA{Hdr: h, AAAA: net.IP(a.AsSlice())})
		}
	}
	return m
}

// answerPTR answers a reverse query for addr when the address is the
// network's; nil sends it upstream.
func (s *Server) answerPTR(ctx context.Context, r *mdns.Msg, addr netip.Addr) *mdns.Msg {
	q := r.Question[0]
	var names []string
	found := false
	if s.cfg.Reverse != nil {
		names, found = s.cfg.Reverse(ctx, addr)
	}
	if !found {
		for _, p := range s.cfg.Subnets {
			if p.Contains(addr) {
				m := reply(r, mdns.RcodeNameError)
				m.Authoritative = true
				return m
			}
		}
		return nil
	}
	m := reply(r, mdns.RcodeSuccess)
	m.Authoritative = true
	if q.Qtype != mdns.TypePTR && q.Qtype != mdns.TypeANY {
		return m
	}
	for _, n := range names {
		n = strings.Trim(strings.ToLower(n), ".")
		if n == "" {
			continue
		}
		m.Answer = append(m.Answer, &mdns.PTR{
			Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypePTR, Class: mdns.ClassINET, Ttl: s.ttl},
			Ptr: n + "." + s.domain + ".",
		})
	}
	return m
}

// reverseName is the address of a full reverse name (in-addr.arpa with
// four labels, ip6.arpa with 32 nibbles), lower-case with a trailing dot.
func reverseName(name string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa."); ok {
		labels := strings.Split(rest, ".")
		if len(labels) != 4 {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(labels[3] + "." + labels[2] + "." + labels[1] + "." + labels[0])
		return a, err == nil
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa."); ok {
		labels := strings.Split(rest, ".")
		if len(labels) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i, l := range labels {
			if len(l) != 1 {
				return netip.Addr{}, false
			}
			v := strings.IndexByte("0123456789abcdef", l[0])
			if v < 0 {
				return netip.Addr{}, false
			}
			// labels[0] is the lowest nibble of the last byte.
			pos := 31 - i
			if pos%2 == 0 {
				b[pos/2] |= byte(v) << 4
			} else {
				b[pos/2] |= byte(v)
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}

// upstreamsFor are the resolvers for a query from client.
func (s *Server) upstreamsFor(ctx context.Context, client net.Addr) []string {
	if s.cfg.ClientUpstreams != nil {
		if a := clientAddr(client); a.IsValid() {
			var ups []string
			for _, u := range s.cfg.ClientUpstreams(ctx, a) {
				if ap, err := netip.ParseAddrPort(u); err == nil && !s.isSelf(ap) {
					ups = append(ups, u)
				}
			}
			if len(ups) > 0 {
				return ups
			}
		}
	}
	return *s.upstreams.Load()
}

// forward sends r to the upstreams in order and returns the first answer
// that is not SERVFAIL or REFUSED; UDP first, TCP when the UDP answer is
// truncated. SERVFAIL when every upstream fails.
func (s *Server) forward(ctx context.Context, r *mdns.Msg, upstreams []string) *mdns.Msg {
	var last *mdns.Msg
	for _, up := range upstreams {
		if ctx.Err() != nil {
			break
		}
		resp, err := s.exchange(ctx, r, up)
		if err != nil {
			s.log.Debug("dns server: upstream failed", "upstream", up, "name", r.Question[0].Name, "err", err)
			continue
		}
		if resp.Rcode == mdns.RcodeServerFailure || resp.Rcode == mdns.RcodeRefused {
			last = resp
			continue
		}
		return resp
	}
	if last != nil {
		return last
	}
	return reply(r, mdns.RcodeServerFailure)
}

// exchange is one upstream attempt, within the upstream timeout.
func (s *Server) exchange(ctx context.Context, r *mdns.Msg, up string) (*mdns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, s.udpClient.Timeout)
	defer cancel()
	resp, _, err := s.udpClient.ExchangeContext(ctx, r, up)
	if err == nil && resp.Truncated {
		resp, _, err = s.tcpClient.ExchangeContext(ctx, r, up)
	}
	return resp, err
}

// limitListener accepts at most n connections at once.
type limitListener struct {
	net.Listener
	sem  chan struct{}
	done chan struct{}
	once sync.Once
}

func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// clientAddr is a client's address, IPv4 unmapped; invalid when unknown.
func clientAddr(client net.Addr) netip.Addr {
	switch c := client.(type) {
	case *net.UDPAddr:
		return c.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		return c.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// allowed reports whether client may ask: anyone without dns.Config.Clients,
// else only addresses inside them (so a container of another network,
// which reaches this gateway as a host address, learns no names here).
func (s *Server) allowed(client net.Addr) bool {
	if len(s.cfg.Clients) == 0 {
		return true
	}
	a := clientAddr(client)
	for _, p := range s.cfg.Clients {
		if a.IsValid() && p.Contains(a) {
			return true
		}
	}
	return false
}
