// Package nameserver is a network's name server (package dns has what it
// serves, dns.Config, and the name files): it runs on the host, one per
// network, on the network's gateway addresses, UDP and TCP port 53. It is
// the one part of networking that needs a DNS message library
// (github.com/miekg/dns, and crypto/tls behind it), so that the programs
// that only attach containers (the monitor, stockade-supervisor) do not
// link one.
package nameserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/stockade/stockade/network/dns"
)

// Server is a network's name server. Listen makes one with its sockets
// bound; Serve answers until its context is done.
type Server struct {
	cfg       dns.Config
	domain    string // lower-case, no dots at either end
	ttl       uint32
	upstreams atomic.Pointer[[]string]
	sem       chan struct{}
	log       *slog.Logger
	udp       []net.PacketConn
	tcp       []net.Listener
	addrs     []netip.AddrPort
	udpClient *mdns.Client
	tcpClient *mdns.Client
	closeOnce sync.Once
}

// Listen validates cfg and binds its addresses, UDP and TCP. An address
// that is not usable yet (EADDRNOTAVAIL, such as an IPv6 address still in
// duplicate address detection) is retried until ctx is done.
func Listen(ctx context.Context, cfg dns.Config) (*Server, error) {
	if cfg.Lookup == nil {
		return nil, errors.New("dns server: no lookup function")
	}
	if len(cfg.Listen) == 0 {
		return nil, errors.New("dns server: no listen address")
	}
	domain := strings.Trim(strings.ToLower(cfg.Domain), ".")
	if domain == "" {
		domain = dns.DefaultDomain
	}
	if _, ok := mdns.IsDomainName(domain); !ok {
		return nil, fmt.Errorf("dns server: domain %q: not a domain name", cfg.Domain)
	}
	s := &Server{
		cfg:    cfg,
		domain: domain,
		ttl:    uint32(orDefault(cfg.TTL, dns.DefaultTTL) / time.Second),
		sem:    make(chan struct{}, orDefault(cfg.MaxInflight, dns.DefaultMaxInflight)),
		log:    cfg.Logger,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	timeout := orDefault(cfg.Timeout, dns.DefaultTimeout)
	s.udpClient = &mdns.Client{Net: "udp", Timeout: timeout, UDPSize: mdns.DefaultMsgSize}
	s.tcpClient = &mdns.Client{Net: "tcp", Timeout: timeout}
	for _, a := range cfg.Listen {
		if err := s.bind(ctx, a); err != nil {
			s.Close()
			return nil, err
		}
	}
	if err := s.SetUpstreams(cfg.Upstreams); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// SetUpstreams replaces the resolvers other names go to ("IP:PORT", in
// order); queries already forwarded finish with the old ones. The server's
// own addresses are skipped (they would loop).
func (s *Server) SetUpstreams(upstreams []string) error {
	var ups []string
	for _, u := range upstreams {
		ap, err := netip.ParseAddrPort(u)
		if err != nil {
			return fmt.Errorf("dns server: upstream %q: %w", u, err)
		}
		if s.isSelf(ap) {
			s.log.Warn("dns server: skipping upstream that is this server", "upstream", u)
			continue
		}
		ups = append(ups, u)
	}
	s.upstreams.Store(&ups)
	return nil
}

// FollowResolvConf keeps the upstreams equal to the resolvers of the file
// at path (as dns.Upstreams gives them, without the server itself), reading it
// every interval (zero: every 2
// seconds) until ctx is done, so a host whose resolvers change (DHCP, a
// VPN, NetworkManager) is followed without a restart. A file that is
// missing or cannot be read leaves the upstreams as they are.
func (s *Server) FollowResolvConf(ctx context.Context, path string, interval time.Duration) {
	var last []string
	t := time.NewTicker(orDefault(interval, 2*time.Second))
	defer t.Stop()
	for {
		if _, err := os.Stat(path); err != nil {
			s.log.Debug("dns server: keeping upstreams", "err", err)
		} else if rc, err := dns.ReadResolvConf(path); err != nil {
			s.log.Warn("dns server: keeping upstreams", "err", err)
		} else if ups := dns.Upstreams(rc, nil); last == nil || !slices.Equal(ups, last) {
			// SetUpstreams drops the server's own address and port.
			if err := s.SetUpstreams(ups); err == nil {
				s.log.Info("dns server: upstreams changed", "path", path, "upstreams", s.Upstreams())
			}
			last = ups
			if last == nil {
				last = []string{}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func orDefault[T comparable](v, d T) T {
	var zero T
	if v == zero {
		return d
	}
	return v
}

func (s *Server) isSelf(ap netip.AddrPort) bool {
	for _, a := range s.addrs {
		if a.Port() == ap.Port() && (a.Addr() == ap.Addr() || a.Addr().IsUnspecified()) {
			return true
		}
	}
	return false
}

// bind opens UDP and TCP on one address, the same port for both.
func (s *Server) bind(ctx context.Context, addr string) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("dns server: listen address %q: %w", addr, err)
	}
	var lc net.ListenConfig
	for attempt := 0; ; attempt++ {
		pc, err := lc.ListenPacket(ctx, "udp", ap.String())
		if err != nil {
			if errors.Is(err, syscall.EADDRNOTAVAIL) && ctx.Err() == nil {
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			return fmt.Errorf("dns server: listen udp %s: %w", ap, err)
		}
		bound := netip.AddrPortFrom(ap.Addr(), uint16(pc.LocalAddr().(*net.UDPAddr).Port))
		l, err := lc.Listen(ctx, "tcp", bound.String())
		if err != nil {
			pc.Close()
			// A port picked for UDP may be taken for TCP: pick again.
			if ap.Port() == 0 && errors.Is(err, syscall.EADDRINUSE) && attempt < 10 {
				continue
			}
			return fmt.Errorf("dns server: listen tcp %s: %w", bound, err)
		}
		s.udp = append(s.udp, pc)
		s.tcp = append(s.tcp, newLimitListener(l, orDefault(s.cfg.MaxTCPConns, dns.DefaultMaxTCPConns)))
		s.addrs = append(s.addrs, bound)
		return nil
	}
}

// Addrs are the addresses the server listens on, UDP and TCP each.
func (s *Server) Addrs() []netip.AddrPort { return append([]netip.AddrPort(nil), s.addrs...) }

// Upstreams are the resolvers the server forwards to, in order.
func (s *Server) Upstreams() []string { return slices.Clone(*s.upstreams.Load()) }

// Close closes the sockets of a server that is not serving; Serve closes
// them itself when it returns.
func (s *Server) Close() error {
	var errs []error
	s.closeOnce.Do(func() {
		for _, pc := range s.udp {
			errs = append(errs, pc.Close())
		}
		for _, l := range s.tcp {
			errs = append(errs, l.Close())
		}
	})
	return errors.Join(errs...)
}

// Serve answers queries until ctx is done, then stops (waiting up to the
// upstream timeout for queries in flight) and returns nil. It returns an
// error if a socket fails.
func (s *Server) Serve(ctx context.Context) error {
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) { s.handle(hctx, w, r) })

	var servers []*mdns.Server
	for _, pc := range s.udp {
		servers = append(servers, &mdns.Server{PacketConn: pc, Handler: h, UDPSize: mdns.DefaultMsgSize})
	}
	for _, l := range s.tcp {
		servers = append(servers, &mdns.Server{
			Listener:      l,
			Handler:       h,
			ReadTimeout:   2 * time.Second,
			WriteTimeout:  2 * time.Second,
			IdleTimeout:   func() time.Duration { return 8 * time.Second },
			MaxTCPQueries: 128,
		})
	}
	errc := make(chan error, len(servers))
	var started sync.WaitGroup
	for _, srv := range servers {
		started.Add(1)
		var once sync.Once
		done := func() { once.Do(started.Done) }
		srv.NotifyStartedFunc = done
		go func() {
			err := srv.ActivateAndServe()
			done() // a server that failed to start
			errc <- err
		}()
	}
	started.Wait()

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("dns server: %w", err)
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), orDefault(s.cfg.Timeout, dns.DefaultTimeout))
	defer scancel()
	for _, srv := range servers {
		srv.ShutdownContext(sctx)
	}
	s.Close()
	return err
}
