package main

import (
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stockade/stockade/internal/monitorio"
	"github.com/stockade/stockade/network/networktest"
)

// TestForwarders: the small monitor serves an inherited listener as a
// forwarder to its target, and passes it back paused: a connection made
// then waits, and is served by whoever serves the descriptor passed back.
// A descriptor that is no socket is dropped.
func TestForwarders(t *testing.T) {
	container := networktest.TCPServer(t, func(c net.Conn) { io.WriteString(c, "from the container\n") }).String()
	ln, err := net.Listen("tcp4", "127.0.0.1:0") // the published port
	if err != nil {
		t.Fatal(err)
	}
	fd, err := monitorio.DupFD(ln.(*net.TCPListener))
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := monitorio.DupFD(devnull)
	devnull.Close()
	if err != nil {
		t.Fatal(err)
	}
	desc := monitorio.Forwarder{FD: fd, Hook: "network", Owner: "bridge", Proto: "tcp", Target: container}
	fwds := serveForwarders([]monitorio.Forwarder{desc, {FD: bad, Hook: "network", Owner: "bridge", Proto: "tcp", Target: container}})
	if len(fwds) != 1 {
		t.Fatalf("serving %d forwarders, want 1 (/dev/null is no socket)", len(fwds))
	}
	get := func() string {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := get(); got != "from the container\n" {
		t.Errorf("through the forwarder: %q", got)
	}
	back := passForwarders(fwds)
	if len(back) != 1 || back[0].FD < 3 || back[0].Target != desc.Target || back[0].Proto != "tcp" || back[0].Owner != "bridge" {
		t.Fatalf("passed back %+v", back)
	}
	fwds[0].px.Close() // the process ends: its descriptors go
	// The full monitor exec'd back serves the descriptor passed back.
	again := serveForwarders(back)
	if len(again) != 1 {
		t.Fatal("the descriptor passed back cannot be served")
	}
	defer again[0].px.Close()
	if got := get(); got != "from the container\n" {
		t.Errorf("through the forwarder passed back: %q", got)
	}
}
