package linux

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

// TestHandOffAdopt: the driver pauses an endpoint's forwarders for the
// hand-off, refuses while one forwards a connection, serves a socket
// passed back as the endpoint's, and Detach's stopProxies closes it:
// nothing listens on the port afterwards.
func TestHandOffAdopt(t *testing.T) {
	// The container: an HTTP-less echo of one line on loopback.
	srv, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	target := netip.MustParseAddrPort(srv.Addr().String())
	d, err := New(Config{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	n := &network.Network{ID: "n1", Name: "net1"}
	ep := &network.Endpoint{ContainerID: "c1"}
	owner := EndpointOwner(d.inst, n, ep)
	px, err := proxy.Listen("tcp", netip.MustParseAddrPort("127.0.0.1:0"), target)
	if err != nil {
		t.Fatal(err)
	}
	addr := px.Addr().String()
	d.proxies[owner] = []*proxy.Proxy{px}

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	echo := func(c net.Conn) {
		t.Helper()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte("x"))
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err != nil || b[0] != 'x' {
			t.Fatalf("echo: %q, %v", b, err)
		}
	}
	echo(conn)
	if _, _, err := d.HandOff(n, ep); !errors.Is(err, engine.ErrForwarding) {
		t.Fatalf("HandOff with a connection open: %v, want ErrForwarding", err)
	}
	echo(conn) // not paused: it goes on, and new ones are served
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
		t.Fatalf("handed off %v", ps)
	}
	// What the small monitor would pass back: a descriptor of the socket.
	rc, err := px.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	rc.Control(func(f uintptr) { fd, err = syscall.Dup(int(f)) })
	if err != nil {
		t.Fatal(err)
	}
	px.Close()
	delete(d.proxies, owner) // a new process: the proxies were the old one's
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
	d.stopProxies(n, ep)
	if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		c.Close()
		t.Errorf("%s accepts after stopProxies", addr)
	}
}
