package monitorio

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPumpStopLosesNothing stops a pump in the middle of a stream, as a
// handover does, and lets a second pump (the other monitor's) go on from
// the same pipe into the same log: every byte is logged once, in order,
// and the partial line at the stop is an entry of its own.
func TestPumpStopLosesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	if !Stoppable(r) {
		t.Fatal("a pipe from os.Pipe is not stoppable")
	}
	var want strings.Builder
	write := func(from, to int) {
		for i := from; i < to; i++ {
			line := fmt.Sprintf("line %04d\n", i)
			want.WriteString(line)
			w.WriteString(line)
		}
	}
	log1, err := OpenLog(path, 1<<20, 2)
	if err != nil {
		t.Fatal(err)
	}
	p1 := NewPump(r, log1, "stdout", NewHub(), FrameStdout)
	write(0, 200)
	w.WriteString("partial ")
	want.WriteString("partial ")
	time.Sleep(50 * time.Millisecond) // let the pump read part of it
	write(200, 400)                   // some of this stays in the pipe
	f := p1.Stop()
	if f == nil {
		t.Fatal("Stop: the stream ended")
	}
	log1.Close()

	log2, err := OpenLog(path, 1<<20, 2)
	if err != nil {
		t.Fatal(err)
	}
	p2 := NewPump(f, log2, "stdout", NewHub(), FrameStdout)
	write(400, 600)
	w.Close()
	select {
	case <-p2.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the second pump did not see the end of the stream")
	}
	log2.Close()

	var got strings.Builder
	var entries []string
	if err := ReadLog(context.Background(), path, LogOptions{Tail: -1}, func(e LogEntry) error {
		got.WriteString(e.Log)
		entries = append(entries, e.Log)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Errorf("the log is not the stream: %d bytes, want %d", got.Len(), want.Len())
	}
	for _, e := range entries {
		if !strings.HasSuffix(e, "\n") && e != "partial " && !strings.HasPrefix("partial line 0200\n", e) {
			t.Errorf("entry %q: only the handover splits a line", e)
		}
	}
}

// TestHubPauseDetachAdopt: a paused hub leaves new clients in the
// listener's backlog, Detach hands its clients over with their hellos, and
// another hub (the other monitor's) adopts them and serves the listener.
func TestHubPauseDetachAdopt(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "a.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h1 := NewHub()
	h1.Go(ln)
	dial := func(hello AttachHello) net.Conn {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(hello)
		if err := WriteFrame(c, FrameHello, b); err != nil {
			t.Fatal(err)
		}
		return c
	}
	c1 := dial(AttachHello{Stdin: true})
	defer c1.Close()
	waitFor(t, func() bool { return h1.Clients() == 1 })
	if err := h1.Pause(ln); err != nil {
		t.Fatal(err)
	}
	c2 := dial(AttachHello{}) // in the backlog while nobody serves
	defer c2.Close()
	time.Sleep(20 * time.Millisecond)
	if n := h1.Clients(); n != 1 {
		t.Fatalf("a paused hub took a client: %d clients", n)
	}
	det := h1.Detach()
	if len(det) != 1 || det[0].Hello == nil || !det[0].Hello.Stdin {
		t.Fatalf("detached %+v", det)
	}
	h2 := NewHub()
	h2.Adopt(det[0].Conn, det[0].Hello)
	h2.Go(ln)
	waitFor(t, func() bool { return h2.Clients() == 2 })
	waitFor(t, func() bool { h2.Broadcast(FrameStdout, []byte("x")); return true })
	h2.Exit(ExitMessage{ExitCode: 7})
	for i, c := range []net.Conn{c1, c2} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var exit ExitMessage
		for {
			kind, payload, err := ReadFrame(c)
			if err != nil {
				t.Fatalf("client %d: %v", i+1, err)
			}
			if kind == FrameExit {
				json.Unmarshal(payload, &exit)
				break
			}
		}
		if exit.ExitCode != 7 {
			t.Errorf("client %d: exit %d", i+1, exit.ExitCode)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("timed out")
}
