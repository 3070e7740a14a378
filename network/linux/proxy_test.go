package linux

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// echoServer answers each line it reads with "echo: line" and closes
// after the client's half-close.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
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
				s := bufio.NewScanner(c)
				for s.Scan() {
					io.WriteString(c, "echo: "+s.Text()+"\n")
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func TestProxy(t *testing.T) {
	target := echoServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dialer := &net.Dialer{Timeout: time.Second}
	p := startProxy(ln, target, dialer.Dial)

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

	// Close ends open connections and stops listening.
	open, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(open, "hi\n")
	open.SetDeadline(time.Now().Add(3 * time.Second))
	if line, err := bufio.NewReader(open).ReadString('\n'); err != nil || line != "echo: hi\n" {
		t.Fatalf("open connection: %q, %v", line, err)
	}
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return with a connection open")
	}
	if _, err := io.ReadAll(open); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Errorf("read after Close: %v", err)
	}
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("the proxy still accepts after Close")
	}
}

func TestProxyTargetDown(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := dead.Addr().String()
	dead.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(ln, target, (&net.Dialer{Timeout: time.Second}).Dial)
	defer p.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if b, err := io.ReadAll(c); err != nil && !strings.Contains(err.Error(), "reset") || len(b) != 0 {
		t.Errorf("a connection to a dead target: %q, %v; want closed", b, err)
	}
}
