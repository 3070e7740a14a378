package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// serveTCP listens on addr (skipping the test when the host lacks that
// loopback) and runs handle on each connection, which it then closes.
func serveTCP(t testing.TB, network, addr string, handle func(net.Conn)) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("no %s loopback: %v", network, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// echoTCP serves on loopback: each connection gets back what it sent,
// upper-cased, once the client has closed its side (so a proxy that does
// not pass the half-close on hangs the test), followed by " from " and
// the address the server saw.
func echoTCP(t testing.TB, network, addr string) netip.AddrPort {
	return serveTCP(t, network, addr, func(c net.Conn) {
		b, _ := io.ReadAll(c)
		c.Write([]byte(strings.ToUpper(string(b)) + " from " + c.RemoteAddr().String()))
	})
}

// echoLines answers each line it reads with "echo: line" at once, and
// closes after the client's half-close.
func echoLines(t *testing.T) netip.AddrPort {
	return serveTCP(t, "tcp4", "127.0.0.1:0", func(c net.Conn) {
		s := bufio.NewScanner(c)
		for s.Scan() {
			io.WriteString(c, "echo: "+s.Text()+"\n")
		}
	})
}

// echoUDP answers each datagram with it upper-cased.
func echoUDP(t testing.TB, network, addr string) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Skipf("no %s loopback: %v", network, err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo([]byte(strings.ToUpper(string(buf[:n]))), from)
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// recordingDial dials for real and records what it was asked to dial.
type recordingDial struct {
	mu    sync.Mutex
	calls []string
	fail  int // the first fail calls return an error
}

func (r *recordingDial) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	r.mu.Lock()
	r.calls = append(r.calls, network+" "+addr)
	fail := len(r.calls) <= r.fail
	r.mu.Unlock()
	if fail {
		return nil, errors.New("dial refused by the test")
	}
	return (&net.Dialer{Timeout: time.Second}).DialContext(ctx, network, addr)
}

func (r *recordingDial) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// loopbacks are the listening and target addresses every forwarding
// test runs over.
var loopbacks = []struct{ name, fam, target, listen string }{
	{"v4", "4", "127.0.0.1:0", "127.0.0.1:0"},
	{"v6", "6", "[::1]:0", "[::1]:0"},
	{"v6 to v4", "4", "127.0.0.1:0", "[::1]:0"},
}

// forEachLoopback runs fn on a proxy for proto in front of an echo server
// (echo), for each of loopbacks, with the default dial and with WithDial
// (then rec records its calls; it is nil otherwise).
func forEachLoopback(t *testing.T, proto string, echo func(testing.TB, string, string) netip.AddrPort, fn func(t *testing.T, p *Proxy, target netip.AddrPort, rec *recordingDial)) {
	for _, lb := range loopbacks {
		for _, dial := range []bool{false, true} {
			name := lb.name
			if dial {
				name += " with Dial"
			}
			t.Run(name, func(t *testing.T) {
				target := echo(t, proto+lb.fam, lb.target)
				var rec *recordingDial
				var opts []Option
				if dial {
					rec = &recordingDial{}
					opts = append(opts, WithDial(rec.dial))
				}
				p, err := Listen(proto, netip.MustParseAddrPort(lb.listen), target, opts...)
				if err != nil {
					t.Skipf("listen %s: %v", lb.listen, err)
				}
				defer p.Close()
				fn(t, p, target, rec)
			})
		}
	}
}

// checkDials checks that rec, when there is one, dialed target on proto
// n times.
func checkDials(t *testing.T, rec *recordingDial, n int, proto string, target netip.AddrPort) {
	t.Helper()
	if rec == nil {
		return
	}
	calls := rec.Calls()
	if len(calls) != n {
		t.Errorf("Dial called %d times, want %d: %q", len(calls), n, calls)
	}
	for _, c := range calls {
		if c != proto+" "+target.String() {
			t.Errorf("Dial(%s), want %s %s", c, proto, target)
		}
	}
}

func TestTCP(t *testing.T) {
	forEachLoopback(t, "tcp", echoTCP, func(t *testing.T, p *Proxy, target netip.AddrPort, rec *recordingDial) {
		// Several clients at once, each with a half-close.
		const clients = 5
		errs := make(chan error, clients)
		for i := range clients {
			go func() {
				c, err := net.Dial("tcp", p.Addr().String())
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
				msg := strings.Repeat("x", 100000) + string(rune('a'+i))
				if _, err := c.Write([]byte(msg)); err != nil {
					errs <- err
					return
				}
				c.(*net.TCPConn).CloseWrite()
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				b, err := io.ReadAll(c)
				if err != nil {
					errs <- err
					return
				}
				got, from, _ := strings.Cut(string(b), " from ")
				if got != strings.ToUpper(msg) {
					errs <- fmt.Errorf("client %d: got %d bytes back, want its %d upper-cased", i, len(got), len(msg))
					return
				}
				// The server sees the proxy, not the client.
				if a, err := netip.ParseAddrPort(from); err != nil || a.Addr() != target.Addr() {
					errs <- fmt.Errorf("client %d: the server saw %q, want an address of %s", i, from, target.Addr())
					return
				}
				errs <- nil
			}()
		}
		for range clients {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		checkDials(t, rec, clients, "tcp", target)
	})
}

// A conversation goes both ways before either side closes; Close ends an
// open connection and stops accepting.
func TestServeInteractive(t *testing.T) {
	target := echoLines(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingDial{}
	p := Serve(ln, target, WithDial(rec.dial))

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "one\ntwo\n")
	c.(*net.TCPConn).CloseWrite()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := "echo: one\necho: two\n"; string(got) != want {
		t.Errorf("through the proxy: %q, want %q", got, want)
	}
	c.Close()

	open, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	io.WriteString(open, "hi\n")
	open.SetDeadline(time.Now().Add(3 * time.Second))
	r := bufio.NewReader(open)
	if line, err := r.ReadString('\n'); err != nil || line != "echo: hi\n" {
		t.Fatalf("open connection: %q, %v", line, err)
	}
	closeWithin(t, p)
	if b, err := io.ReadAll(r); len(b) != 0 || err != nil && !strings.Contains(err.Error(), "reset") {
		t.Errorf("read after Close: %q, %v; want the connection closed", b, err)
	}
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("the proxy still accepts after Close")
	}
	if calls := rec.Calls(); len(calls) != 2 || calls[0] != "tcp "+target.String() {
		t.Errorf("Dial calls %q, want two of tcp %s", calls, target)
	}
}

func TestUDP(t *testing.T) {
	forEachLoopback(t, "udp", echoUDP, func(t *testing.T, p *Proxy, target netip.AddrPort, rec *recordingDial) {
		msgs := []string{"one", "two"} // two clients, two flows
		for _, msg := range msgs {
			c, err := net.Dial("udp", p.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if _, err := c.Write([]byte(msg)); err != nil {
					t.Fatal(err)
				}
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 100)
				n, err := c.Read(buf)
				if err != nil {
					t.Fatalf("%s #%d: %v", msg, i, err)
				}
				if string(buf[:n]) != strings.ToUpper(msg) {
					t.Errorf("%s #%d: got %q", msg, i, buf[:n])
				}
			}
			c.Close()
		}
		checkDials(t, rec, len(msgs), "udp", target) // one per flow, not per datagram
	})
}

// A failed dial drops the datagram (TCP: closes the connection); the
// proxy goes on and the next one gets through.
func TestDialFails(t *testing.T) {
	t.Run("udp", func(t *testing.T) {
		target := echoUDP(t, "udp4", "127.0.0.1:0")
		rec := &recordingDial{fail: 1}
		p := listen4(t, "udp", target, WithDial(rec.dial))
		c, err := net.Dial("udp", p.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("lost"))
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if n, err := c.Read(make([]byte, 10)); err == nil {
			t.Fatalf("a reply (%d bytes) to a datagram whose dial failed", n)
		}
		c.Write([]byte("kept"))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 10)
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != "KEPT" {
			t.Fatalf("after a failed dial: %q, %v", buf[:n], err)
		}
	})
	t.Run("tcp", func(t *testing.T) {
		target := echoTCP(t, "tcp4", "127.0.0.1:0")
		rec := &recordingDial{fail: 1}
		p := listen4(t, "tcp", target, WithDial(rec.dial))
		for i, want := range []string{"", "HI from "} {
			c, err := net.Dial("tcp", p.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(c, "hi")
			c.(*net.TCPConn).CloseWrite()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			b, _ := io.ReadAll(c)
			if !strings.HasPrefix(string(b), want) || want == "" && len(b) != 0 {
				t.Errorf("connection %d: %q, want %q…", i, b, want)
			}
			c.Close()
		}
	})
}

func TestListenErrors(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	_, err = Listen("tcp", addr, netip.MustParseAddrPort("127.0.0.1:9"))
	if err == nil || !strings.Contains(err.Error(), "published port "+addr.String()+"/tcp") {
		t.Fatalf("a taken port: %v", err)
	}
	if _, err := Listen("sctp", addr, addr); err == nil || !strings.Contains(err.Error(), `"sctp"`) {
		t.Fatalf("sctp: %v", err)
	}
}

// listen4 starts a proxy for proto on 127.0.0.1, closed at the end of
// the test.
func listen4(t *testing.T, proto string, target netip.AddrPort, opts ...Option) *Proxy {
	t.Helper()
	p, err := Listen(proto, netip.MustParseAddrPort("127.0.0.1:0"), target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// closeWithin closes p; Close must return within 5 s, whatever is open.
func closeWithin(t *testing.T, p *Proxy) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs with a connection or flow open")
	}
}

// rebind listens on addr again: it fails while the proxy holds the port.
func rebind(proto, addr string) error {
	var c io.Closer
	var err error
	if proto == "tcp" {
		c, err = net.Listen("tcp4", addr)
	} else {
		c, err = net.ListenPacket("udp4", addr)
	}
	if err == nil {
		c.Close()
	}
	return err
}

// Close ends the open connections and flows, waits for them, and frees
// the port; a second Close does nothing.
func TestClose(t *testing.T) {
	for _, proto := range []string{"tcp", "udp"} {
		t.Run(proto, func(t *testing.T) {
			var target netip.AddrPort
			if proto == "tcp" {
				target = echoTCP(t, "tcp4", "127.0.0.1:0")
			} else {
				target = echoUDP(t, "udp4", "127.0.0.1:0")
			}
			p := listen4(t, proto, target)
			addr := p.Addr().String()
			c, err := net.Dial(proto, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write([]byte("hello"))
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if proto == "udp" {
				// The flow is open once its answer is back.
				if _, err := c.Read(make([]byte, 10)); err != nil {
					t.Fatalf("no flow: %v", err)
				}
			} else {
				// The echo waits for our close: the connection stays open.
				time.Sleep(50 * time.Millisecond)
			}
			closeWithin(t, p)
			if proto == "tcp" {
				if _, err := bufio.NewReader(c).ReadByte(); err == nil {
					t.Error("connection still open after Close")
				}
			} else {
				c.Write([]byte("again"))
				c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				if n, err := c.Read(make([]byte, 10)); err == nil {
					t.Errorf("a reply (%d bytes) through a closed proxy", n)
				}
			}
			if err := rebind(proto, addr); err != nil {
				t.Fatalf("port not freed: %v", err)
			}
			if err := p.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

// A connection to a target that refuses is closed, and the proxy goes on.
func TestTargetRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"default dial", nil},
		{"Dial option", []Option{WithDial((&net.Dialer{Timeout: time.Second}).DialContext)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			dead := ln.Addr().(*net.TCPAddr).AddrPort()
			ln.Close()
			p := listen4(t, "tcp", dead, tc.opts...)
			for range 2 {
				c, err := net.Dial("tcp", p.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if n, err := c.Read(make([]byte, 1)); err != io.EOF {
					t.Errorf("read = %d, %v; want EOF", n, err)
				}
				c.Close()
			}
		})
	}
}
