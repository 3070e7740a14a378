package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
)

func TestReadMonitorID(t *testing.T) {
	for _, tt := range []struct {
		in     string
		want   string
		wantOK bool
	}{
		{"abc123\n", "abc123", true},
		{"", "", false},                              // the command line closed the pipe: no container
		{"abc", "", false},                           // no end of line: it died while writing
		{"\n", "", false},                            // empty
		{"../x\n", "", false},                        // not an id
		{"a b\n", "", false},                         // not an id
		{strings.Repeat("a", 300) + "\n", "", false}, // over the bound
	} {
		id, ok := ReadMonitorID(strings.NewReader(tt.in))
		if ok != tt.wantOK || (ok && id != tt.want) {
			t.Errorf("ReadMonitorID(%q) = %q, %v; want %q, %v", tt.in, id, ok, tt.want, tt.wantOK)
		}
	}
}

// shellMonitor is a monitor command that reads the id from descriptor 4
// as the real one does and reports what it read on the sync pipe (3).
func shellMonitor(args *[]string) func(id string, waitAttach bool) *exec.Cmd {
	return func(id string, waitAttach bool) *exec.Cmd {
		*args = append(*args, id)
		return exec.Command("sh", "-c", `if read -r id <&4; then echo "got $id" >&3; fi`)
	}
}

// TestPendingMonitor: a pending monitor gets the id StartWith sends it;
// one that is closed instead reads no id and exits.
func TestPendingMonitor(t *testing.T) {
	ctx := context.Background()
	var args []string
	e := &Engine{MonitorCommand: shellMonitor(&args)}

	p, err := SpawnMonitor(ctx, e.MonitorCommand, true)
	if err != nil {
		t.Fatal(err)
	}
	mon, err := p.take("c0ffee", AttachHello{Start: true})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(mon.sync)
	mon.sync.Close()
	if err := mon.cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "got c0ffee" {
		t.Errorf("monitor read %q, want the id", got)
	}
	p.Close() // after take: nothing left to do

	p, err = SpawnMonitor(ctx, e.MonitorCommand, false)
	if err != nil {
		t.Fatal(err)
	}
	sync := p.mon.sync
	cmd := p.mon.cmd
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(sync); done <- b }()
	p.Close()
	if cmd.ProcessState == nil || !cmd.ProcessState.Success() {
		t.Fatalf("closed pending monitor not reaped: %v", cmd.ProcessState)
	}
	if got := strings.TrimSpace(string(<-done)); got != "" {
		t.Errorf("closed pending monitor read %q, want no id", got)
	}
	if strings.Join(args, " ") != "- -" {
		t.Errorf("monitor ids %q, want the pending marker twice", args)
	}
}

// TestPendingAttach: a pending monitor that waits for its attach has its
// first client on descriptor 5, whose hello StartWith sends with the id
// (so that the monitor need not wait for the command line to connect);
// TakeAttach returns the command line's end. One that does not wait for
// an attach gets no descriptor 5, and TakeAttach returns nil.
func TestPendingAttach(t *testing.T) {
	ctx := context.Background()
	hello := AttachHello{Stdin: true, Start: true}
	data, _ := json.Marshal(hello)
	frameLen := 5 + len(data)
	// The monitor: the id, then the hello frame's bytes, to the sync
	// pipe; then an answer on the attach connection.
	script := fmt.Sprintf(`read -r id <&4 && echo "$id" >&3 && dd bs=%d count=1 iflag=fullblock <&5 >&3 2>/dev/null && printf pong >&5`, frameLen)
	command := func(string, bool) *exec.Cmd { return exec.Command("sh", "-c", script) }

	p, err := SpawnMonitor(ctx, command, true)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.TakeAttach() != nil {
		t.Fatal("TakeAttach before the hello went returned a connection")
	}
	mon, err := p.take("c0ffee", hello)
	if err != nil {
		t.Fatal(err)
	}
	conn := p.TakeAttach()
	if conn == nil {
		t.Fatal("TakeAttach after take returned nil")
	}
	defer conn.Close()
	out, _ := io.ReadAll(mon.sync)
	mon.sync.Close()
	if err := mon.cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	id, frame, _ := strings.Cut(string(out), "\n")
	if id != "c0ffee" {
		t.Errorf("monitor read id %q", id)
	}
	kind, payload, err := ReadFrame(strings.NewReader(frame))
	if err != nil || kind != FrameHello || string(payload) != string(data) {
		t.Errorf("monitor read frame %d %q (%v), want the hello %s", kind, payload, err, data)
	}
	answer, _ := io.ReadAll(conn)
	if string(answer) != "pong" {
		t.Errorf("the command line's end read %q, want the monitor's pong", answer)
	}

	// Without an attach to wait for, descriptor 5 is not there.
	p, err = SpawnMonitor(ctx, func(string, bool) *exec.Cmd {
		return exec.Command("sh", "-c", `read -r id <&4; if { true >&5; } 2>/dev/null; then echo fd5 >&3; else echo none >&3; fi`)
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	mon, err = p.take("c0ffee", hello)
	if err != nil {
		t.Fatal(err)
	}
	out, _ = io.ReadAll(mon.sync)
	mon.sync.Close()
	mon.cmd.Wait()
	if got := strings.TrimSpace(string(out)); got != "none" {
		t.Errorf("detached pending monitor: descriptor 5 is %q", got)
	}
	if p.TakeAttach() != nil {
		t.Error("TakeAttach of a monitor that waits for no attach returned a connection")
	}
}
