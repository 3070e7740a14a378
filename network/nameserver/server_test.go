package nameserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/stockade/stockade/network/dns"
)

// table is a lookup callback over a map that tests change between
// queries.
type table struct {
	mu    sync.Mutex
	names map[string][]netip.Addr
	rev   map[netip.Addr][]string
}

func newTable() *table {
	return &table{
		names: map[string][]netip.Addr{
			"web":   {netip.MustParseAddr("10.88.0.5"), netip.MustParseAddr("fd00:88::5")},
			"db":    {netip.MustParseAddr("10.88.0.6")},
			"my.db": {netip.MustParseAddr("10.88.0.6")},
		},
		rev: map[netip.Addr][]string{
			netip.MustParseAddr("10.88.0.5"):  {"web", "www"},
			netip.MustParseAddr("fd00:88::5"): {"web"},
		},
	}
}

func (t *table) lookup(_ context.Context, name string) ([]netip.Addr, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a, ok := t.names[name]
	return a, ok
}

func (t *table) reverse(_ context.Context, a netip.Addr) ([]string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, ok := t.rev[a]
	return n, ok
}

func (t *table) set(name string, addrs ...netip.Addr) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if addrs == nil {
		delete(t.names, name)
		return
	}
	t.names[name] = addrs
}

// upstream is a DNS server the test starts on loopback, UDP and TCP on
// one port, that records what it was asked.
type upstream struct {
	addr    string
	queries atomic.Int64
	tcp     atomic.Int64
}

// startUpstream serves h on 127.0.0.1; nil h answers every A query with
// 192.0.2.1 and every other name NXDOMAIN when it starts with "nx".
func startUpstream(t testing.TB, h func(w mdns.ResponseWriter, r *mdns.Msg)) *upstream {
	t.Helper()
	u := &upstream{}
	if h == nil {
		h = func(w mdns.ResponseWriter, r *mdns.Msg) {
			m := new(mdns.Msg)
			m.SetReply(r)
			q := r.Question[0]
			switch {
			case strings.HasPrefix(q.Name, "nx"):
				m.Rcode = mdns.RcodeNameError
			case q.Qtype == mdns.TypeA:
				m.Answer = append(m.Answer, mustRR(t, q.Name+" 60 IN A 192.0.2.1"))
			}
			w.WriteMsg(m)
		}
	}
	handler := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		u.queries.Add(1)
		if _, ok := w.LocalAddr().(*net.TCPAddr); ok {
			u.tcp.Add(1)
		}
		h(w, r)
	})
	for {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			continue
		}
		u.addr = pc.LocalAddr().String()
		for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: handler}, {Listener: l, Handler: handler}} {
			started := make(chan struct{})
			srv.NotifyStartedFunc = func() { close(started) }
			go srv.ActivateAndServe()
			<-started
			t.Cleanup(func() { srv.Shutdown() })
		}
		return u
	}
}

func mustRR(t testing.TB, s string) mdns.RR {
	rr, err := mdns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

// startServer runs a Server on 127.0.0.1 until the test ends, and checks
// that Serve then returns nil.
func startServer(t testing.TB, cfg dns.Config) *Server {
	t.Helper()
	if cfg.Listen == nil {
		cfg.Listen = []string{"127.0.0.1:0"}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := Listen(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

func query(t testing.TB, network string, s *Server, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	c := &mdns.Client{Net: network, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, s.Addrs()[0].String())
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, name, mdns.TypeToString[qtype], err)
	}
	return r
}

// answers are the addresses and PTR names of r's answer section.
func answers(r *mdns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *mdns.A:
			out = append(out, rr.A.String())
		case *mdns.AAAA:
			out = append(out, rr.AAAA.String())
		case *mdns.PTR:
			out = append(out, rr.Ptr)
		default:
			out = append(out, rr.String())
		}
	}
	return out
}

func TestLocalAnswers(t *testing.T) {
	tb := newTable()
	up := startUpstream(t, nil)
	s := startServer(t, dns.Config{Lookup: tb.lookup, Upstreams: []string{up.addr}})
	tests := []struct {
		name  string
		qtype uint16
		rcode int
		want  string
	}{
		{"web.", mdns.TypeA, mdns.RcodeSuccess, "10.88.0.5"},
		{"WEB.", mdns.TypeA, mdns.RcodeSuccess, "10.88.0.5"},
		{"web.dns.stockade.", mdns.TypeA, mdns.RcodeSuccess, "10.88.0.5"},
		{"Web.DNS.Stockade.", mdns.TypeAAAA, mdns.RcodeSuccess, "fd00:88::5"},
		{"web.", mdns.TypeANY, mdns.RcodeSuccess, "10.88.0.5 fd00:88::5"},
		{"my.db.", mdns.TypeA, mdns.RcodeSuccess, "10.88.0.6"},
		// A known name without the family asked: NODATA, not NXDOMAIN.
		{"db.", mdns.TypeAAAA, mdns.RcodeSuccess, ""},
		{"db.dns.stockade.", mdns.TypeMX, mdns.RcodeSuccess, ""},
		{"dns.stockade.", mdns.TypeA, mdns.RcodeSuccess, ""},
		// Unknown under the network domain: ours to deny.
		{"nope.dns.stockade.", mdns.TypeA, mdns.RcodeNameError, ""},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			t.Run(network+"/"+tt.name+"/"+mdns.TypeToString[tt.qtype], func(t *testing.T) {
				r := query(t, network, s, tt.name, tt.qtype)
				if r.Rcode != tt.rcode {
					t.Fatalf("rcode %s, want %s", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tt.rcode])
				}
				if got := strings.Join(answers(r), " "); got != tt.want {
					t.Errorf("answers %q, want %q", got, tt.want)
				}
				if !r.Authoritative {
					t.Error("local answer not authoritative")
				}
				for _, rr := range r.Answer {
					if rr.Header().Ttl != 2 {
						t.Errorf("TTL %d, want 2", rr.Header().Ttl)
					}
					if rr.Header().Name != tt.name {
						t.Errorf("answer name %q, want the question's %q", rr.Header().Name, tt.name)
					}
				}
			})
		}
	}
	if n := up.queries.Load(); n != 0 {
		t.Errorf("upstream asked %d times for local names", n)
	}
}

func TestCustomDomainAndTTL(t *testing.T) {
	tb := newTable()
	s := startServer(t, dns.Config{Lookup: tb.lookup, Domain: "Net1.Test.", TTL: 5 * time.Second})
	r := query(t, "udp", s, "web.net1.test.", mdns.TypeA)
	if got := strings.Join(answers(r), " "); got != "10.88.0.5" || r.Answer[0].Header().Ttl != 5 {
		t.Fatalf("web.net1.test: %v", r.Answer)
	}
	if r := query(t, "udp", s, "web.dns.stockade.", mdns.TypeA); r.Rcode != mdns.RcodeServerFailure {
		t.Errorf("default domain with a custom one: rcode %s, want SERVFAIL (no upstreams)", mdns.RcodeToString[r.Rcode])
	}
}

func TestForward(t *testing.T) {
	tb := newTable()
	up := startUpstream(t, nil)
	s := startServer(t, dns.Config{Lookup: tb.lookup, Upstreams: []string{up.addr}})
	for _, network := range []string{"udp", "tcp"} {
		r := query(t, network, s, "www.example.test.", mdns.TypeA)
		if got := strings.Join(answers(r), " "); r.Rcode != mdns.RcodeSuccess || got != "192.0.2.1" {
			t.Errorf("%s forwarded: rcode %s answers %q", network, mdns.RcodeToString[r.Rcode], got)
		}
		if r.Authoritative {
			t.Errorf("%s forwarded answer marked authoritative", network)
		}
		// An unknown bare name is the upstream's to answer too.
		r = query(t, network, s, "nxhost.", mdns.TypeA)
		if r.Rcode != mdns.RcodeNameError {
			t.Errorf("%s nxhost: rcode %s, want the upstream's NXDOMAIN", network, mdns.RcodeToString[r.Rcode])
		}
	}
	if n := up.queries.Load(); n != 4 {
		t.Errorf("upstream asked %d times, want 4", n)
	}
}

// silentUpstream is a UDP socket on loopback that never answers.
func silentUpstream(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

func TestForwardNextUpstream(t *testing.T) {
	tb := newTable()
	refusing := startUpstream(t, func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetRcode(r, mdns.RcodeRefused)
		w.WriteMsg(m)
	})
	good := startUpstream(t, nil)
	s := startServer(t, dns.Config{
		Lookup:    tb.lookup,
		Upstreams: []string{silentUpstream(t), refusing.addr, good.addr},
		Timeout:   300 * time.Millisecond,
	})
	r := query(t, "udp", s, "www.example.test.", mdns.TypeA)
	if got := strings.Join(answers(r), " "); got != "192.0.2.1" {
		t.Fatalf("answers %q (rcode %s), want the third upstream's", got, mdns.RcodeToString[r.Rcode])
	}
	if refusing.queries.Load() != 1 || good.queries.Load() != 1 {
		t.Errorf("queries: refusing %d, good %d; want 1 each", refusing.queries.Load(), good.queries.Load())
	}
}

func TestUpstreamDown(t *testing.T) {
	tb := newTable()
	servfail := startUpstream(t, func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetRcode(r, mdns.RcodeServerFailure)
		w.WriteMsg(m)
	})
	// A port nothing listens on: the kernel refuses at once.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := pc.LocalAddr().String()
	pc.Close()

	const timeout = 300 * time.Millisecond
	tests := []struct {
		name      string
		upstreams []string
	}{
		{"silent", []string{silentUpstream(t)}},
		{"silent twice", []string{silentUpstream(t), silentUpstream(t)}},
		{"closed port", []string{closed}},
		{"servfail", []string{servfail.addr}},
		{"none", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, dns.Config{Lookup: tb.lookup, Upstreams: tt.upstreams, Timeout: timeout})
			start := time.Now()
			r := query(t, "udp", s, "www.example.test.", mdns.TypeA)
			took := time.Since(start)
			if r.Rcode != mdns.RcodeServerFailure {
				t.Errorf("rcode %s, want SERVFAIL", mdns.RcodeToString[r.Rcode])
			}
			if limit := time.Duration(len(tt.upstreams)+1) * timeout * 3; took > limit {
				t.Errorf("SERVFAIL after %v, want within %v", took, limit)
			}
			// Local names still work with every upstream down.
			if r := query(t, "udp", s, "web.", mdns.TypeA); len(r.Answer) != 1 {
				t.Errorf("local name with upstreams down: %v", r)
			}
		})
	}
}

func TestTCPFallback(t *testing.T) {
	tb := newTable()
	const n = 60 // A records: 16 bytes each after the first, past 512
	up := startUpstream(t, func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		m.Compress = true
		if _, ok := w.LocalAddr().(*net.UDPAddr); ok {
			m.Truncated = true
		} else {
			for i := range n {
				m.Answer = append(m.Answer, mustRR(t, fmt.Sprintf("%s 60 IN A 192.0.2.%d", r.Question[0].Name, i+1)))
			}
		}
		w.WriteMsg(m)
	})
	s := startServer(t, dns.Config{Lookup: tb.lookup, Upstreams: []string{up.addr}})

	// A client with EDNS room gets the whole answer over UDP: the server
	// fetched it over TCP.
	m := new(mdns.Msg)
	m.SetQuestion("big.example.test.", mdns.TypeA)
	m.SetEdns0(4096, false)
	c := &mdns.Client{Net: "udp", Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Answer) != n || r.Truncated {
		t.Fatalf("EDNS client: %d answers, truncated %v; want %d whole", len(r.Answer), r.Truncated, n)
	}
	if up.tcp.Load() != 1 {
		t.Errorf("upstream TCP queries %d, want 1", up.tcp.Load())
	}

	// A plain UDP client is told to retry over TCP, and gets it all there.
	m = new(mdns.Msg)
	m.SetQuestion("big.example.test.", mdns.TypeA)
	r, _, err = c.Exchange(m, s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	if !r.Truncated {
		t.Errorf("512-byte client: not truncated with %d answers", len(r.Answer))
	}
	if r := query(t, "tcp", s, "big.example.test.", mdns.TypeA); len(r.Answer) != n {
		t.Errorf("TCP client: %d answers, want %d", len(r.Answer), n)
	}
}

func TestAnswersFollowChanges(t *testing.T) {
	tb := newTable()
	up := startUpstream(t, nil)
	s := startServer(t, dns.Config{Lookup: tb.lookup, Upstreams: []string{up.addr}})
	steps := []struct {
		set   []netip.Addr // nil removes the name
		rcode int
		want  string
	}{
		{[]netip.Addr{netip.MustParseAddr("10.88.0.20")}, mdns.RcodeSuccess, "10.88.0.20"},
		{[]netip.Addr{netip.MustParseAddr("10.88.0.21")}, mdns.RcodeSuccess, "10.88.0.21"},
		{[]netip.Addr{netip.MustParseAddr("10.88.0.21"), netip.MustParseAddr("10.88.0.22")}, mdns.RcodeSuccess, "10.88.0.21 10.88.0.22"},
		{nil, mdns.RcodeNameError, ""},
		{[]netip.Addr{netip.MustParseAddr("10.88.0.23")}, mdns.RcodeSuccess, "10.88.0.23"},
	}
	for i, st := range steps {
		tb.set("app", st.set...)
		r := query(t, "udp", s, "app.dns.stockade.", mdns.TypeA)
		if got := strings.Join(answers(r), " "); r.Rcode != st.rcode || got != st.want {
			t.Errorf("step %d: rcode %s answers %q, want %s %q", i, mdns.RcodeToString[r.Rcode], got, mdns.RcodeToString[st.rcode], st.want)
		}
	}
}

func TestPTR(t *testing.T) {
	tb := newTable()
	up := startUpstream(t, func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		m.Answer = append(m.Answer, mustRR(t, r.Question[0].Name+" 60 IN PTR upstream.test."))
		w.WriteMsg(m)
	})
	s := startServer(t, dns.Config{
		Lookup:    tb.lookup,
		Reverse:   tb.reverse,
		Subnets:   []netip.Prefix{netip.MustParsePrefix("10.88.0.0/16"), netip.MustParsePrefix("fd00:88::/64")},
		Upstreams: []string{up.addr},
	})
	tests := []struct {
		addr  string
		rcode int
		want  string
	}{
		{"10.88.0.5", mdns.RcodeSuccess, "web.dns.stockade. www.dns.stockade."},
		{"fd00:88::5", mdns.RcodeSuccess, "web.dns.stockade."},
		{"10.88.0.99", mdns.RcodeNameError, ""},
		{"fd00:88::99", mdns.RcodeNameError, ""},
		{"192.0.2.7", mdns.RcodeSuccess, "upstream.test."},
	}
	for _, tt := range tests {
		name, err := mdns.ReverseAddr(tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		r := query(t, "udp", s, strings.ToUpper(name), mdns.TypePTR)
		if got := strings.Join(answers(r), " "); r.Rcode != tt.rcode || got != tt.want {
			t.Errorf("PTR %s: rcode %s answers %q, want %s %q", tt.addr, mdns.RcodeToString[r.Rcode], got, mdns.RcodeToString[tt.rcode], tt.want)
		}
	}
}

func TestReverseName(t *testing.T) {
	for _, a := range []string{"10.88.0.5", "0.0.0.0", "255.255.255.255", "fd00:88::5", "2001:db8:1:2:3:4:5:6", "::1"} {
		name, _ := mdns.ReverseAddr(a)
		got, ok := reverseName(name)
		if !ok || got != netip.MustParseAddr(a) {
			t.Errorf("reverseName(%q) = %v, %v; want %s", name, got, ok, a)
		}
	}
	for _, name := range []string{
		"5.0.88.in-addr.arpa.", "256.0.88.10.in-addr.arpa.", "in-addr.arpa.", "x.0.88.10.in-addr.arpa.",
		"5.0.0.0.ip6.arpa.", strings.Repeat("g.", 32) + "ip6.arpa.", strings.Repeat("10.", 32) + "ip6.arpa.",
		"www.example.test.",
	} {
		if a, ok := reverseName(name); ok {
			t.Errorf("reverseName(%q) = %v, want not a reverse name", name, a)
		}
	}
}

func TestConcurrentQueries(t *testing.T) {
	tb := newTable()
	up := startUpstream(t, nil)
	s := startServer(t, dns.Config{Lookup: tb.lookup, Upstreams: []string{up.addr}})
	const clients, each = 32, 25
	var wg sync.WaitGroup
	errs := make(chan error, clients*each)
	for i := range clients {
		wg.Go(func() {
			network := []string{"udp", "tcp"}[i%2]
			c := &mdns.Client{Net: network, Timeout: 5 * time.Second}
			for j := range each {
				name, want := "web.", "10.88.0.5"
				if j%2 == 1 {
					name, want = fmt.Sprintf("h%d-%d.example.test.", i, j), "192.0.2.1"
				}
				m := new(mdns.Msg)
				m.SetQuestion(name, mdns.TypeA)
				r, _, err := c.Exchange(m, s.Addrs()[0].String())
				if err != nil {
					errs <- fmt.Errorf("%s %s: %w", network, name, err)
					continue
				}
				if got := strings.Join(answers(r), " "); got != want {
					errs <- fmt.Errorf("%s %s: %q, want %q", network, name, got, want)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestBoundedConcurrency(t *testing.T) {
	tb := newTable()
	release := make(chan struct{})
	var inflight, peak atomic.Int64
	up := startUpstream(t, func(w mdns.ResponseWriter, r *mdns.Msg) {
		n := inflight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		inflight.Add(-1)
		m := new(mdns.Msg)
		m.SetReply(r)
		m.Answer = append(m.Answer, mustRR(t, r.Question[0].Name+" 60 IN A 192.0.2.1"))
		w.WriteMsg(m)
	})
	const limit, queries = 2, 8
	s := startServer(t, dns.Config{Lookup: tb.lookup, Upstreams: []string{up.addr}, MaxInflight: limit, Timeout: 10 * time.Second})
	type result struct {
		rcode   int
		answers int
	}
	results := make(chan result, queries)
	for i := range queries {
		go func() {
			m := new(mdns.Msg)
			m.SetQuestion(fmt.Sprintf("q%d.example.test.", i), mdns.TypeA)
			c := &mdns.Client{Timeout: 20 * time.Second}
			r, _, err := c.Exchange(m, s.Addrs()[0].String())
			if err != nil {
				t.Error(err)
				results <- result{rcode: -1}
				return
			}
			results <- result{r.Rcode, len(r.Answer)}
		}()
	}
	// Beyond the limit, queries are refused at once while the first ones
	// wait on the upstream.
	for range queries - limit {
		if r := <-results; r.rcode != mdns.RcodeServerFailure {
			t.Errorf("query beyond the limit: rcode %d, want SERVFAIL", r.rcode)
		}
	}
	// The ones within the limit reach the upstream, and no more do.
	for deadline := time.Now().Add(5 * time.Second); peak.Load() < limit && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if p := peak.Load(); p != limit {
		t.Errorf("upstream saw %d queries at once, want %d", p, limit)
	}
	close(release)
	for range limit {
		if r := <-results; r.rcode != mdns.RcodeSuccess || r.answers != 1 {
			t.Errorf("query within the limit: %+v", r)
		}
	}
	// The slots are free again.
	for range limit + 1 {
		if r := query(t, "udp", s, "after.example.test.", mdns.TypeA); len(r.Answer) != 1 {
			t.Errorf("query after the burst: rcode %s", mdns.RcodeToString[r.Rcode])
		}
	}
}

func TestShutdown(t *testing.T) {
	tb := newTable()
	s, err := Listen(context.Background(), dns.Config{Lookup: tb.lookup, Listen: []string{"127.0.0.1:0", "[::1]:0"}})
	if err != nil {
		t.Fatal(err)
	}
	var inodes []uint64
	for _, pc := range s.udp {
		inodes = append(inodes, socketInode(t, pc.(syscall.Conn)))
	}
	for _, l := range s.tcp {
		inodes = append(inodes, socketInode(t, l.(*limitListener).Listener.(syscall.Conn)))
	}
	if open, ok := openSockets(); ok && (len(inodes) != 4 || !open[inodes[0]] || !open[inodes[3]]) {
		t.Fatalf("socket inodes %v, open %d: the check below could not fail", inodes, len(open))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	for _, a := range s.Addrs() {
		c := &mdns.Client{Timeout: 5 * time.Second}
		m := new(mdns.Msg)
		m.SetQuestion("web.", mdns.TypeAAAA)
		r, _, err := c.Exchange(m, a.String())
		if err != nil || len(r.Answer) != 1 {
			t.Fatalf("%s: %v %v", a, r, err)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	// The sockets are gone: none of them is open in this process any
	// more. (Binding the same ports again, as this test did, fails now
	// and then when a test of another package takes one of these
	// ephemeral ports meanwhile.)
	open, ok := openSockets()
	if !ok {
		// No /proc: the addresses bind again.
		for _, a := range s.Addrs() {
			pc, err := net.ListenPacket("udp", a.String())
			if err != nil {
				t.Errorf("udp %s still bound: %v", a, err)
				continue
			}
			pc.Close()
		}
	}
	for _, ino := range inodes {
		if open[ino] {
			t.Errorf("socket %d still open after Serve returned", ino)
		}
	}
}

func TestListenErrors(t *testing.T) {
	tb := newTable()
	taken, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	tests := []struct {
		name string
		cfg  dns.Config
		want string
	}{
		{"no lookup", dns.Config{Listen: []string{"127.0.0.1:0"}}, "no lookup function"},
		{"no address", dns.Config{Lookup: tb.lookup}, "no listen address"},
		{"bad address", dns.Config{Lookup: tb.lookup, Listen: []string{"gateway:53"}}, `listen address "gateway:53"`},
		{"taken", dns.Config{Lookup: tb.lookup, Listen: []string{taken.LocalAddr().String()}}, "listen udp " + taken.LocalAddr().String()},
		{"bad upstream", dns.Config{Lookup: tb.lookup, Listen: []string{"127.0.0.1:0"}, Upstreams: []string{"8.8.8.8"}}, `upstream "8.8.8.8"`},
		{"bad domain", dns.Config{Lookup: tb.lookup, Listen: []string{"127.0.0.1:0"}, Domain: "a..b"}, `domain "a..b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Listen(context.Background(), tt.cfg)
			if err == nil {
				s.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q, want one line with %q", err, tt.want)
			}
		})
	}
}

func TestListenWaitsForAddress(t *testing.T) {
	// 192.0.2.1 is on no interface here: Listen retries until ctx ends,
	// then reports the address.
	tb := newTable()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Listen(ctx, dns.Config{Lookup: tb.lookup, Listen: []string{"192.0.2.1:0"}})
	if err == nil || !strings.Contains(err.Error(), "192.0.2.1") {
		t.Fatalf("error %v, want one naming 192.0.2.1", err)
	}
	if time.Since(start) < 250*time.Millisecond {
		t.Errorf("gave up after %v, before the context ended", time.Since(start))
	}
}

func TestSelfUpstreamSkipped(t *testing.T) {
	tb := newTable()
	s, err := Listen(context.Background(), dns.Config{Lookup: tb.lookup, Listen: []string{"127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	self := s.Addrs()[0].String()
	s.Close()
	// Bind the same port again, with it as its own upstream.
	s, err = Listen(context.Background(), dns.Config{
		Lookup:    tb.lookup,
		Listen:    []string{self},
		Upstreams: []string{self, "127.0.0.1:5353"},
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Upstreams(); len(got) != 1 || got[0] != "127.0.0.1:5353" {
		t.Errorf("upstreams %v, want the server itself skipped", got)
	}
}

// answerA is an upstream handler that answers every A query with addr.
func answerA(t testing.TB, addr string) func(w mdns.ResponseWriter, r *mdns.Msg) {
	return func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		m.Answer = append(m.Answer, mustRR(t, r.Question[0].Name+" 60 IN A "+addr))
		w.WriteMsg(m)
	}
}

func TestClientUpstreams(t *testing.T) {
	tb := newTable()
	hostUp := startUpstream(t, answerA(t, "192.0.2.1"))
	ownUp := startUpstream(t, answerA(t, "192.0.2.2"))
	var asked []netip.Addr
	var mu sync.Mutex
	s, err := Listen(context.Background(), dns.Config{
		Lookup:    tb.lookup,
		Listen:    []string{"127.0.0.1:0", "[::1]:0"},
		Upstreams: []string{hostUp.addr},
		ClientUpstreams: func(_ context.Context, client netip.Addr) []string {
			mu.Lock()
			asked = append(asked, client)
			mu.Unlock()
			if client == netip.MustParseAddr("127.0.0.1") {
				return []string{ownUp.addr}
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Serve(ctx)
	for i, want := range []string{"192.0.2.2", "192.0.2.1"} { // from 127.0.0.1, from ::1
		m := new(mdns.Msg)
		m.SetQuestion("www.example.test.", mdns.TypeA)
		r, _, err := (&mdns.Client{Timeout: 5 * time.Second}).Exchange(m, s.Addrs()[i].String())
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(answers(r), " "); got != want {
			t.Errorf("via %s: %q, want %q", s.Addrs()[i], got, want)
		}
	}
	// Local names do not ask.
	m := new(mdns.Msg)
	m.SetQuestion("web.", mdns.TypeA)
	if _, _, err := (&mdns.Client{Timeout: 5 * time.Second}).Exchange(m, s.Addrs()[0].String()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}; !reflect.DeepEqual(asked, want) {
		t.Errorf("ClientUpstreams asked for %v, want %v", asked, want)
	}
}

func TestFollowResolvConf(t *testing.T) {
	tb := newTable()
	s := startServer(t, dns.Config{Lookup: tb.lookup, Upstreams: []string{"127.0.0.9:53"}})
	path := filepath.Join(t.TempDir(), "resolv.conf")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.FollowResolvConf(ctx, path, 10*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()

	waitFor := func(want ...string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !slices.Equal(s.Upstreams(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("upstreams %q, want %q", s.Upstreams(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// No file yet: the configured upstreams stay.
	time.Sleep(50 * time.Millisecond)
	waitFor("127.0.0.9:53")
	write := func(content string) {
		t.Helper()
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("nameserver 127.0.0.53\n")
	waitFor("127.0.0.53:53")
	write("nameserver ::1\nnameserver 127.0.0.1\n")
	waitFor("[::1]:53", "127.0.0.1:53")
	os.Remove(path)
	time.Sleep(50 * time.Millisecond)
	waitFor("[::1]:53", "127.0.0.1:53")
}

var errSink error

func BenchmarkQuery(b *testing.B) {
	tb := newTable()
	up := startUpstream(b, nil)
	s := startServer(b, dns.Config{Lookup: tb.lookup, Upstreams: []string{up.addr}})
	for _, bc := range []struct{ name, q string }{{"local", "web."}, {"forwarded", "www.example.test."}} {
		b.Run(bc.name, func(b *testing.B) {
			start := time.Now()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				c := &mdns.Client{Timeout: 5 * time.Second}
				conn, err := c.Dial(s.Addrs()[0].String())
				if err != nil {
					errSink = err
					return
				}
				defer conn.Close()
				m := new(mdns.Msg)
				m.SetQuestion(bc.q, mdns.TypeA)
				for pb.Next() {
					r, _, err := c.ExchangeWithConn(m, conn)
					if err != nil || len(r.Answer) != 1 {
						errSink = errors.Join(err, fmt.Errorf("bad answer %v", r))
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "queries/s")
			if errSink != nil {
				b.Fatal(errSink)
			}
		})
	}
}

// TestClientsOnly: a server given Clients refuses everyone else, over UDP
// and TCP, and forwards nothing for them.
func TestClientsOnly(t *testing.T) {
	tb := newTable()
	up := startUpstream(t, nil)
	for _, tt := range []struct {
		clients []netip.Prefix
		rcode   int
	}{
		{[]netip.Prefix{netip.MustParsePrefix("10.88.0.0/16")}, mdns.RcodeRefused},
		{[]netip.Prefix{netip.MustParsePrefix("10.88.0.0/16"), netip.MustParsePrefix("127.0.0.0/8")}, mdns.RcodeSuccess},
		{nil, mdns.RcodeSuccess},
	} {
		s := startServer(t, dns.Config{Lookup: tb.lookup, Upstreams: []string{up.addr}, Clients: tt.clients})
		for _, network := range []string{"udp", "tcp"} {
			for _, name := range []string{"web.", "example.test."} {
				if r := query(t, network, s, name, mdns.TypeA); r.Rcode != tt.rcode {
					t.Errorf("clients %v, %s %s: rcode %s, want %s", tt.clients, network, name, mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tt.rcode])
				}
			}
		}
	}
}

// socketInode is the inode number of c's socket.
func socketInode(t *testing.T, c syscall.Conn) uint64 {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Fstat(int(fd), &st) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	return st.Ino
}

// openSockets lists the inodes of the sockets this process has open;
// false without /proc/self/fd (FreeBSD without linprocfs).
func openSockets() (map[uint64]bool, bool) {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, false
	}
	open := map[uint64]bool{}
	for _, fd := range fds {
		target, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if err != nil {
			continue
		}
		var ino uint64
		if _, err := fmt.Sscanf(target, "socket:[%d]", &ino); err == nil {
			open[ino] = true
		}
	}
	return open, true
}
