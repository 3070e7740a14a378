package freebsd

import (
	"context"
	"net"
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
