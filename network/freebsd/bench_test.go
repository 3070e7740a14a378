package freebsd

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/stockade/stockade/network"
)

// BenchmarkAttachDetach is the driver's own cost per container over the
// recording fake: command planning, the rules' text, two proxies bound
// and closed (a published port on every address). On FreeBSD the
// commands themselves (about 15 execs) come on top.
func BenchmarkAttachDetach(b *testing.B) {
	d, _ := newTestDriver()
	ctx := context.Background()
	n := testNet()
	if err := d.EnsureNetwork(ctx, n); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		b.Fatal(err)
	}
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	ep := testEP()
	ep.Ports = []network.PortMapping{{HostPort: port, ContainerPort: 80, Protocol: "tcp"}}
	for b.Loop() {
		if err := d.Attach(ctx, n, ep, sb); err != nil {
			b.Fatal(err)
		}
		if err := d.Detach(ctx, n, ep, sb); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProxyTCP is the proxy's throughput on loopback: one connection
// sends b.N × 64 KiB through it to a server that discards them.
func BenchmarkProxyTCP(b *testing.B) {
	srv, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	go func() {
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	p, err := ListenProxy("tcp", netip.MustParseAddrPort("127.0.0.1:0"), srv.Addr().(*net.TCPAddr).AddrPort(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}
