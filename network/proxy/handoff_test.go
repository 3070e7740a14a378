package proxy

import (
	"bufio"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"
)

// dupFile returns a descriptor of p's socket as another process would
// get it.
func dupFile(t *testing.T, p *Proxy) *os.File {
	t.Helper()
	rc, err := p.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	var derr error
	if err := rc.Control(func(f uintptr) { fd, derr = syscall.Dup(int(f)) }); err != nil || derr != nil {
		t.Fatal(err, derr)
	}
	return os.NewFile(uintptr(fd), "forwarder")
}

// waitActive waits until p forwards n connections or flows.
func waitActive(t *testing.T, p *Proxy, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for p.Active() != n {
		if time.Now().After(deadline) {
			t.Fatalf("Active = %d, want %d", p.Active(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHandOffTCP: a connection that arrives while the proxy is paused
// waits in the kernel and is served by the proxy made from its socket's
// descriptor; the connection open before goes on meanwhile, and counts.
func TestHandOffTCP(t *testing.T) {
	target := echoLines(t)
	p := listen4(t, "tcp", target)
	line := func(c net.Conn, r *bufio.Reader, s string) {
		t.Helper()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, s+"\n")
		got, err := r.ReadString('\n')
		if err != nil || got != "echo: "+s+"\n" {
			t.Fatalf("read %q, %v; want echo of %q", got, err, s)
		}
	}
	c1, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r1 := bufio.NewReader(c1)
	line(c1, r1, "one")
	waitActive(t, p, 1)

	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	c2, err := net.Dial("tcp", p.Addr().String()) // queued: nobody accepts
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	line(c1, r1, "still") // the open connection goes on
	if p.Active() != 1 {
		t.Fatalf("Active while paused = %d, want 1 (the queued connection is not the proxy's)", p.Active())
	}

	f := dupFile(t, p)
	q, err := FromFile("tcp", f, target)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if q.Proto() != "tcp" || q.Target() != target {
		t.Errorf("FromFile: %s to %s, want tcp to %s", q.Proto(), q.Target(), target)
	}
	c1.Close()
	waitActive(t, p, 0)
	closeWithin(t, p) // its descriptor only: the socket is q's too
	line(c2, bufio.NewReader(c2), "two")
	waitActive(t, q, 1)
}

// TestPauseUnpause: a paused proxy serves again after Unpause, the
// connection that waited included.
func TestPauseUnpause(t *testing.T) {
	for _, proto := range []string{"tcp", "udp"} {
		t.Run(proto, func(t *testing.T) {
			var p *Proxy
			if proto == "tcp" {
				p = listen4(t, proto, echoLines(t))
			} else {
				p = listen4(t, proto, echoUDP(t, "udp4", "127.0.0.1:0"))
			}
			if err := p.Pause(); err != nil {
				t.Fatal(err)
			}
			if err := p.Pause(); err != nil { // twice is once
				t.Fatal(err)
			}
			c, err := net.Dial(proto, p.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, "hi\n")
			p.Unpause()
			buf := make([]byte, 64)
			n, err := c.Read(buf)
			want := map[string]string{"tcp": "echo: hi\n", "udp": "HI\n"}[proto]
			if err != nil || string(buf[:n]) != want {
				t.Fatalf("read %q, %v; want %q", buf[:n], err, want)
			}
			waitActive(t, p, 1) // the connection or the flow
		})
	}
}

// TestHandOffUDP: a datagram sent while the proxy is paused is read by
// the proxy made from its socket's descriptor.
func TestHandOffUDP(t *testing.T) {
	target := echoUDP(t, "udp4", "127.0.0.1:0")
	p := listen4(t, "udp", target)
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("udp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "queued")
	f := dupFile(t, p)
	q, err := FromFile("udp", f, target)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	closeWithin(t, p)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "QUEUED" {
		t.Fatalf("read %q, %v; want QUEUED", buf[:n], err)
	}
	if q.Active() != 1 {
		t.Errorf("Active = %d, want 1 flow", q.Active())
	}
}

func TestFromFileBad(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, proto := range []string{"tcp", "udp", "sctp"} {
		if p, err := FromFile(proto, f, netip.MustParseAddrPort("127.0.0.1:1")); err == nil {
			p.Close()
			t.Errorf("FromFile(%s, /dev/null) did not fail", proto)
		}
	}
}
