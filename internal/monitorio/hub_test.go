package monitorio

import (
	"encoding/json"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// connPair returns the two ends of a unix stream socket pair: buffered,
// as the pending monitor's first client is.
func connPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "attach")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	return conns[0], conns[1]
}

// started reports whether the hub's first client asked for the start.
func started(h *Hub) bool {
	select {
	case <-h.start:
		return true
	default:
		return false
	}
}

func helloFrame(t *testing.T, conn net.Conn, hello AttachHello) {
	t.Helper()
	data, _ := json.Marshal(hello)
	if err := WriteFrame(conn, FrameHello, data); err != nil {
		t.Fatal(err)
	}
}

// TestAdoptFirst: a first client whose hello is there already is
// attached, and the start asked for, when AdoptFirst returns; one whose
// hello comes later is read by its goroutine; one that hangs up is
// dropped.
func TestAdoptFirst(t *testing.T) {
	t.Run("hello there", func(t *testing.T) {
		h := NewHub()
		mon, cli := connPair(t)
		helloFrame(t, cli, AttachHello{Start: true, Stdin: true})
		h.AdoptFirst(mon, time.Second)
		if !started(h) {
			t.Error("start not asked for when AdoptFirst returned")
		}
		h.mu.Lock()
		hello := h.clients[mon]
		h.mu.Unlock()
		if hello == nil || !hello.Stdin {
			t.Errorf("client's hello = %+v", hello)
		}
	})
	t.Run("hello later", func(t *testing.T) {
		h := NewHub()
		mon, cli := connPair(t)
		h.AdoptFirst(mon, 10*time.Millisecond)
		if started(h) || h.Clients() != 1 {
			t.Fatalf("no hello yet: started %v, clients %d", started(h), h.Clients())
		}
		helloFrame(t, cli, AttachHello{Start: true})
		select {
		case <-h.start:
		case <-time.After(5 * time.Second):
			t.Fatal("a hello after the wait did not start")
		}
	})
	t.Run("hung up", func(t *testing.T) {
		h := NewHub()
		mon, cli := connPair(t)
		cli.Close()
		h.AdoptFirst(mon, time.Second)
		if started(h) || h.Clients() != 0 {
			t.Errorf("hung-up client: started %v, clients %d", started(h), h.Clients())
		}
	})
}
