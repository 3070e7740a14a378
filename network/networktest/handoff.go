package networktest

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/network"
	"github.com/stockade/stockade/network/proxy"
)

// HandOff checks a driver's hand-off of an endpoint's forwarders to the
// small idle monitor and back (network.ForwarderHandOff), on loopback: a
// proxy to an echo server of the test is given to the driver as ep's
// (plant); HandOff is refused while a connection is forwarded and then
// returns the proxy; a duplicate of its socket, as the small monitor
// passes it back, is adopted and served as ep's forwarder; stop (the
// driver's Detach or its part that stops forwarders) closes it, so
// nothing listens on the port afterwards.
func HandOff(t *testing.T, d network.ForwarderHandOff, n *network.Network, ep *network.Endpoint, plant func([]*proxy.Proxy), stop func()) {
	t.Helper()
	target := TCPServer(t, func(c net.Conn) { io.Copy(c, c) })
	px, err := proxy.Listen("tcp", netip.MustParseAddrPort("127.0.0.1:0"), target)
	if err != nil {
		t.Fatal(err)
	}
	addr := px.Addr().String()
	plant([]*proxy.Proxy{px})

	echo := func(c net.Conn) {
		t.Helper()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte("x"))
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err != nil || b[0] != 'x' {
			t.Fatalf("echo through %s: %q, %v", addr, b, err)
		}
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	echo(conn)
	if _, _, err := d.HandOff(n, ep); !errors.Is(err, engine.ErrForwarding) {
		t.Fatalf("HandOff with a connection open: %v, want ErrForwarding", err)
	}
	echo(conn) // not paused: it goes on
	conn.Close()
	eventually := time.Now().Add(5 * time.Second)
	var ps []*proxy.Proxy
	for {
		if ps, _, err = d.HandOff(n, ep); err == nil {
			break
		}
		if time.Now().After(eventually) {
			t.Fatalf("HandOff after the connection closed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(ps) != 1 || ps[0] != px {
		t.Fatalf("handed off %v, want the endpoint's proxy", ps)
	}
	// What the small monitor passes back: a descriptor of the socket.
	rc, err := px.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	var derr error
	if err := rc.Control(func(f uintptr) { fd, derr = syscall.Dup(int(f)) }); err != nil || derr != nil {
		t.Fatalf("dup the proxy's socket: %v %v", err, derr)
	}
	px.Close()
	plant(nil) // a new process: the proxies were the old one's
	f := os.NewFile(uintptr(fd), "forwarder")
	if err := d.Adopt(n, ep, []network.Forwarder{{Proto: "tcp", Target: target, File: f}}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	echo(c2)
	c2.Close()
	stop()
	if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		c.Close()
		t.Errorf("%s accepts after the forwarders stopped", addr)
	}
}

// TCPServer serves handle on each connection to a new listener on
// 127.0.0.1 (the connection is closed after handle), for the test's life;
// it returns the listener's address.
func TCPServer(t *testing.T, handle func(net.Conn)) netip.AddrPort {
	t.Helper()
	srv, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	go func() {
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); handle(c) }()
		}
	}()
	return netip.MustParseAddrPort(srv.Addr().String())
}
