package freebsd

import (
	"bufio"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// echoTCP serves on loopback: each connection gets back what it sent,
// upper-cased, once the client has closed its side (so a proxy that does
// not pass the half-close on hangs the test).
func echoTCP(t *testing.T, network, addr string) netip.AddrPort {
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
				b, _ := io.ReadAll(c)
				c.Write([]byte(strings.ToUpper(string(b)) + " from " + c.RemoteAddr().String()))
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

func echoUDP(t *testing.T, network, addr string) netip.AddrPort {
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

func TestProxyTCP(t *testing.T) {
	for _, tc := range []struct{ name, net, target, listen string }{
		{"v4", "tcp4", "127.0.0.1:0", "127.0.0.1:0"},
		{"v6", "tcp6", "[::1]:0", "[::1]:0"},
		{"v6 to v4", "tcp4", "127.0.0.1:0", "[::1]:0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := echoTCP(t, tc.net, tc.target)
			p, err := ListenProxy("tcp", netip.MustParseAddrPort(tc.listen), target, nil)
			if err != nil {
				t.Skipf("listen %s: %v", tc.listen, err)
			}
			defer p.Close()
			// Several clients at once, each with a half-close.
			errs := make(chan error, 5)
			for i := range 5 {
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
						errs <- io.ErrUnexpectedEOF
						return
					}
					// The server sees the proxy, not the client.
					if a, err := netip.ParseAddrPort(from); err != nil || a.Addr() != target.Addr() {
						errs <- &net.AddrError{Err: "server saw " + from, Addr: target.String()}
						return
					}
					errs <- nil
				}()
			}
			for range 5 {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func TestProxyUDP(t *testing.T) {
	target := echoUDP(t, "udp4", "127.0.0.1:0")
	p, err := ListenProxy("udp", netip.MustParseAddrPort("127.0.0.1:0"), target, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, msg := range []string{"one", "two"} { // two clients, two flows
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
				t.Errorf("got %q", buf[:n])
			}
		}
		c.Close()
	}
}

func TestProxyPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	_, err = ListenProxy("tcp", addr, netip.MustParseAddrPort("127.0.0.1:9"), nil)
	if err == nil || !strings.Contains(err.Error(), "published port "+addr.String()+"/tcp") {
		t.Fatalf("err = %v", err)
	}
	if _, err := ListenProxy("sctp", addr, addr, nil); err == nil || !strings.Contains(err.Error(), `"sctp"`) {
		t.Fatalf("sctp: %v", err)
	}
}

// Close ends open connections and frees the port.
func TestProxyClose(t *testing.T) {
	target := echoTCP(t, "tcp4", "127.0.0.1:0")
	p, err := ListenProxy("tcp", netip.MustParseAddrPort("127.0.0.1:0"), target, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := p.Addr().String()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hello")) // the echo waits for our close: the connection stays open
	time.Sleep(50 * time.Millisecond)
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs on an open connection")
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := bufio.NewReader(c).ReadByte(); err == nil {
		t.Error("connection still open after Close")
	}
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatalf("port not freed: %v", err)
	}
	ln.Close()
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// A connection to a target that refuses is closed, and the proxy goes on.
func TestProxyTargetRefuses(t *testing.T) {
	ln, _ := net.Listen("tcp4", "127.0.0.1:0")
	dead := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()
	p, err := ListenProxy("tcp", netip.MustParseAddrPort("127.0.0.1:0"), dead, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
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
}
