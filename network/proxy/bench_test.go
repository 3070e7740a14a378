package proxy

import (
	"io"
	"net"
	"net/netip"
	"testing"
)

// BenchmarkTCP is the proxy's throughput on loopback: one connection
// sends b.N × 64 KiB through it to a server that discards them.
func BenchmarkTCP(b *testing.B) {
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
	p, err := Listen("tcp", netip.MustParseAddrPort("127.0.0.1:0"), srv.Addr().(*net.TCPAddr).AddrPort())
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
