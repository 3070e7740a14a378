package network

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/internal/testenv"
	"github.com/stockade/stockade/network/dns"
	"github.com/stockade/stockade/network/nameserver"
)

func running(t *testing.T, name, network string, addr string, aliases ...string) *engine.Container {
	c := newContainer(t, name, Options{})
	ext := Extension{Endpoints: []Endpoint{{Network: network, Addr: netip.MustParsePrefix(addr), Aliases: aliases}}}
	c.SetExtension(HookName, ext)
	c.State.Status = engine.StatusRunning
	return c
}

func TestBuildNames(t *testing.T) {
	web := running(t, "Web", "lan", "10.1.0.2/24", "www")
	ext, _ := ContainerExtension(web)
	ext.DNS = []string{"192.0.2.1"}
	web.SetExtension(HookName, ext)
	other := running(t, "db", "other", "10.2.0.2/24")
	stopped := running(t, "old", "lan", "10.1.0.3/24")
	stopped.State.Status = engine.StatusExited
	tb := BuildNames("lan", []*engine.Container{web, other, stopped})
	for _, name := range []string{"web", "www", web.ID[:12]} {
		if a, ok := tb.Lookup(name); !ok || len(a) != 1 || a[0].String() != "10.1.0.2" {
			t.Errorf("Lookup(%s) = %v, %v", name, a, ok)
		}
	}
	for _, name := range []string{"db", "old", "nope"} {
		if a, ok := tb.Lookup(name); ok {
			t.Errorf("Lookup(%s) = %v: not a running container of the network", name, a)
		}
	}
	if n, ok := tb.Reverse(netip.MustParseAddr("10.1.0.2")); !ok || n[0] != "Web" {
		t.Errorf("Reverse = %v, %v", n, ok)
	}
	if u := tb.Upstreams(netip.MustParseAddr("10.1.0.2")); len(u) != 1 || u[0] != "192.0.2.1:53" {
		t.Errorf("Upstreams(web) = %v", u)
	}
}

func TestDNSService(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	mustCreate(t, s, CreateOptions{Name: "lan", Subnet: netip.MustParsePrefix("10.1.0.0/24")})
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(resolv, nil, 0o644)
	var mu sync.Mutex
	list := []*engine.Container{running(t, "web", "lan", "10.1.0.2/24", "www")}
	fail := false
	ready := make(chan netip.AddrPort, 1)
	svc := &DNSService{Start: startNameServer,
		Store: s, Network: "lan", HostResolvConf: resolv, Listen: []string{"127.0.0.1:0"}, Clients: loopbackClients,
		Refresh: 50 * time.Millisecond, Idle: 1500 * time.Millisecond,
		Containers: func(context.Context) ([]*engine.Container, error) {
			mu.Lock()
			defer mu.Unlock()
			if fail {
				return nil, os.ErrNotExist
			}
			// Copies, as the store's reads are: the test changes list.
			out := make([]*engine.Container, len(list))
			for i, c := range list {
				cc := *c
				out[i] = &cc
			}
			return out, nil
		},
		Ready: func(a []netip.AddrPort) { ready <- a[0] },
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var addr netip.AddrPort
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	query := func(name string) (int, []string) {
		m := new(mdns.Msg)
		m.SetQuestion(mdns.Fqdn(name), mdns.TypeA)
		r, _, err := (&mdns.Client{Timeout: 2 * time.Second}).Exchange(m, addr.String())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, rr := range r.Answer {
			out = append(out, rr.(*mdns.A).A.String())
		}
		return r.Rcode, out
	}
	if rc, a := query("www.dns.stockade"); rc != mdns.RcodeSuccess || len(a) != 1 || a[0] != "10.1.0.2" {
		t.Fatalf("www = %d %v", rc, a)
	}
	// The container stops: its name goes within Refresh.
	mu.Lock()
	list[0].State.Status = engine.StatusExited
	mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	if rc, a := query("web.dns.stockade"); rc != mdns.RcodeNameError {
		t.Fatalf("stopped web = %d %v", rc, a)
	}
	// The store cannot be read (its root was removed): no names, and the
	// server goes idle like with no container.
	mu.Lock()
	list[0].State.Status = engine.StatusRunning
	mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	if rc, _ := query("web.dns.stockade"); rc != mdns.RcodeSuccess {
		t.Fatalf("web running again = %d", rc)
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	if rc, _ := query("web.dns.stockade"); rc != mdns.RcodeNameError {
		t.Fatalf("web with an unreadable store = %d", rc)
	}
	// No container runs: the server exits after Idle.
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the idle name server did not exit")
	}
}

func TestDNSPidFile(t *testing.T) {
	path := DNSPidFile(t.TempDir(), "lan")
	if DNSRunning(path) {
		t.Fatal("running before any server")
	}
	f, err := LockDNSPidFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !DNSRunning(path) || DNSReady(path) {
		t.Fatal("not running, or ready before serving, while the lock is held")
	}
	if err := MarkDNSReady(f); err != nil || !DNSReady(path) {
		t.Fatalf("not ready once marked: %v", err)
	}
	if _, err := LockDNSPidFile(path); err != ErrDNSRunning {
		t.Fatalf("second lock: %v", err)
	}
	if err := StopDNS(path + ".other"); err != nil {
		t.Fatalf("StopDNS of no server: %v", err)
	}
	f.Close()
	if DNSRunning(path) || DNSReady(path) {
		t.Fatal("running after the lock went")
	}
}

// TestDNSInternalForwardsNothing starts an upstream on 127.0.0.77:53 (the
// host's resolv.conf of the test) and checks that a network's server
// forwards other names to it, and an internal network's does not.
func TestDNSInternalForwardsNothing(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.77:53")
	if err != nil {
		testenv.Unavailable(t, "cannot bind the test upstream on 127.0.0.77:53: %v", err)
	}
	var mu sync.Mutex
	seen := 0
	up := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		mu.Lock()
		seen++
		mu.Unlock()
		m := new(mdns.Msg)
		m.SetReply(r)
		m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 1}, A: net.IPv4(192, 0, 2, 99)})
		w.WriteMsg(m)
	})}
	go up.ActivateAndServe()
	defer up.Shutdown()
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(resolv, []byte("nameserver 127.0.0.77\n"), 0o644)
	s := newStore(t)
	mustCreate(t, s, CreateOptions{Name: "open", Subnet: netip.MustParsePrefix("10.2.0.0/24")})
	mustCreate(t, s, CreateOptions{Name: "closed", Subnet: netip.MustParsePrefix("10.3.0.0/24"), Internal: true})
	for _, tc := range []struct {
		network string
		rcode   int
		seen    int
	}{{"open", mdns.RcodeSuccess, 1}, {"closed", mdns.RcodeServerFailure, 1}} {
		ctx, cancel := context.WithCancel(t.Context())
		ready := make(chan netip.AddrPort, 1)
		svc := &DNSService{Start: startNameServer, Store: s, Network: tc.network, HostResolvConf: resolv, Listen: []string{"127.0.0.1:0"}, Clients: loopbackClients,
			Containers: func(context.Context) ([]*engine.Container, error) {
				return []*engine.Container{running(t, "web", tc.network, "10.2.0.2/24")}, nil
			},
			Ready: func(a []netip.AddrPort) { ready <- a[0] }}
		done := make(chan error, 1)
		go func() { done <- svc.Run(ctx) }()
		var addr netip.AddrPort
		select {
		case addr = <-ready:
		case err := <-done:
			t.Fatal(err)
		}
		m := new(mdns.Msg)
		m.SetQuestion("elsewhere.test.", mdns.TypeA)
		r, _, err := (&mdns.Client{Timeout: 5 * time.Second}).Exchange(m, addr.String())
		cancel()
		<-done
		mu.Lock()
		n := seen
		mu.Unlock()
		if err != nil || r.Rcode != tc.rcode || n != tc.seen {
			t.Fatalf("%s: rcode %v, %v, upstream saw %d; want %d and %d", tc.network, r, err, n, tc.rcode, tc.seen)
		}
	}
}

// loopbackClients lets the tests' clients, on loopback, ask.
var loopbackClients = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

func startNameServer(ctx context.Context, cfg dns.Config) (NameServer, error) {
	return nameserver.Listen(ctx, cfg)
}
