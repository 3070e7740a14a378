package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stockade/stockade/snapshot"
)

func TestPendingReader(t *testing.T) {
	rec := func(id string) string {
		data, _ := json.Marshal(MonitorStart{Record: &Container{ID: id, Name: "web"}, CommandChecked: true,
			RootMounts: []snapshot.Mount{{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=/l"}}}})
		return string(data) + "\n"
	}
	for _, tt := range []struct {
		name       string
		in         string
		want       string
		wantOK     bool
		wantRecord bool
	}{
		{"id alone", "abc123\n", "", false, false}, // the create failed after the id went (Reserved)
		{"id and no record", "abc123\n{}\n", "abc123", true, false},
		{"id and record", "abc123\n" + rec("abc123"), "abc123", true, true},
		{"another's record", "abc123\n" + rec("def456"), "abc123", true, false}, // read from the store instead
		{"record cut short", "abc123\n" + strings.TrimSuffix(rec("abc123"), "}\n"), "", false, false},
		{"record not ended", "abc123\n" + strings.TrimSuffix(rec("abc123"), "\n"), "", false, false},
		{"record that is not JSON", "abc123\n{nope\n", "abc123", true, false},
		{"detach alone", "abc123\n{\"detach\":true}\n", "abc123", true, false},
		{"nothing", "", "", false, false},           // the command line closed the pipe: no container
		{"no end of line", "abc", "", false, false}, // it died while writing
		{"empty", "\n", "", false, false},
		{"a path", "../x\n", "", false, false},
		{"a space", "a b\n", "", false, false},
		{"over the bound", strings.Repeat("a", 300) + "\n", "", false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, start, ok := readPending(strings.NewReader(tt.in))
			if ok != tt.wantOK || (ok && id != tt.want) {
				t.Errorf("readPending(%q) = %q, %v; want %q, %v", tt.in, id, ok, tt.want, tt.wantOK)
			}
			if got := start.Record != nil; got != tt.wantRecord {
				t.Errorf("record = %+v, want one: %v", start.Record, tt.wantRecord)
			}
			if tt.wantRecord && (start.Record.Name != "web" || !start.CommandChecked || len(start.RootMounts) != 1 || start.RootMounts[0].Options[0] != "lowerdir=/l") {
				t.Errorf("start = %+v", start)
			}
			if !tt.wantRecord && (start.CommandChecked || start.RootMounts != nil) {
				t.Errorf("start = %+v: what the create did, without its record", start)
			}
			if want := strings.Contains(tt.in, "detach"); start.Detach != want {
				t.Errorf("detach = %v, want %v", start.Detach, want)
			}
		})
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
	mon, err := p.take(&Container{ID: "c0ffee"}, AttachHello{Start: true}, true)
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
	<-p.ready
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

// TestPendingSpawnFails: a monitor that cannot be started (its start is
// on a goroutine) is take's error, which names it; Close after it, and
// Close of one never taken, return.
func TestPendingSpawnFails(t *testing.T) {
	ctx := context.Background()
	missing := func(string, bool) *exec.Cmd { return exec.Command("/nonexistent/monitor") }
	p, err := SpawnMonitor(ctx, missing, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.take(&Container{ID: "c0ffee"}, AttachHello{Start: true}, true); err == nil || !strings.Contains(err.Error(), "/nonexistent/monitor") {
		t.Errorf("take of a monitor that could not start: %v", err)
	}
	if p.TakeAttach() != nil {
		t.Error("TakeAttach after a failed spawn returned a connection")
	}
	p.Close()
	p, err = SpawnMonitor(ctx, missing, false)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
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
	mon, err := p.take(&Container{ID: "c0ffee"}, hello, true)
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
	mon, err = p.take(&Container{ID: "c0ffee"}, hello, false)
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

// TestPendingStartMessage: after Created, take sends the record it is
// given (StartWith's, read last) and whether the create checked the
// command; without Created, or for another container, the id alone.
func TestPendingStartMessage(t *testing.T) {
	ctx := context.Background()
	echo := func(string, bool) *exec.Cmd { return exec.Command("sh", "-c", "cat <&4 >&3") }
	for _, tc := range []struct {
		name       string
		created    *Container
		wantRecord bool
	}{
		{"created", &Container{ID: "c0ffee", commandChecked: true, rootMounts: []snapshot.Mount{{Type: "bind", Source: "/r"}}}, true},
		{"not told", nil, false},
		{"another container", &Container{ID: "beef", commandChecked: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := SpawnMonitor(ctx, echo, false)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if tc.created != nil {
				p.Created(tc.created)
			}
			mon, err := p.take(&Container{ID: "c0ffee", Name: "fresh"}, AttachHello{}, false)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := io.ReadAll(mon.sync)
			mon.sync.Close()
			mon.cmd.Wait()
			id, start, ok := readPending(strings.NewReader(string(out)))
			if !ok || id != "c0ffee" {
				t.Fatalf("monitor read %q", out)
			}
			if got := start.Record != nil; got != tc.wantRecord {
				t.Fatalf("record sent: %v, want %v (%q)", got, tc.wantRecord, out)
			}
			if tc.wantRecord && (start.Record.Name != "fresh" || !start.CommandChecked || len(start.RootMounts) != 1 || start.RootMounts[0].Source != "/r") {
				t.Errorf("start = %+v, want take's record, the create's check and its root's mounts", start)
			}
		})
	}
}

// TestPendingDetach: a monitor spawned able to wait for its attach (run
// spawns it before it has parsed -d) and taken by a start that does not
// attach is told so (MonitorStart.Detach), gets no hello, and finds its
// first client closed; TakeAttach returns nil.
func TestPendingDetach(t *testing.T) {
	ctx := context.Background()
	// The monitor: what came on 4, then what it reads on 5 (nothing: the
	// command line closed its end).
	script := `cat <&4 >&3; echo "fd5: $(cat <&5 | wc -c)" >&3`
	p, err := SpawnMonitor(ctx, func(string, bool) *exec.Cmd { return exec.Command("sh", "-c", script) }, true)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Created(&Container{ID: "c0ffee"})
	mon, err := p.take(&Container{ID: "c0ffee", Name: "bg"}, AttachHello{Start: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(mon.sync)
	mon.sync.Close()
	mon.cmd.Wait()
	msg, tail, _ := strings.Cut(string(out), "fd5:")
	id, start, ok := readPending(strings.NewReader(msg))
	if !ok || id != "c0ffee" || !start.Detach || start.Record == nil || start.Record.Name != "bg" {
		t.Errorf("monitor read %q: id %q, start %+v; want the id, the record and detach", msg, id, start)
	}
	if strings.TrimSpace(tail) != "0" {
		t.Errorf("descriptor 5 gave %q bytes, want 0 (no hello, closed)", tail)
	}
	if p.TakeAttach() != nil {
		t.Error("TakeAttach of a detached start returned a connection")
	}

	// An attaching start keeps the monitor it was given: no detach.
	p, err = SpawnMonitor(ctx, func(string, bool) *exec.Cmd { return exec.Command("sh", "-c", "cat <&4 >&3") }, true)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Created(&Container{ID: "c0ffee"})
	mon, err = p.take(&Container{ID: "c0ffee"}, AttachHello{Start: true}, true)
	if err != nil {
		t.Fatal(err)
	}
	out, _ = io.ReadAll(mon.sync)
	mon.sync.Close()
	mon.cmd.Wait()
	if _, start, _ := readPending(strings.NewReader(string(out))); start.Detach {
		t.Errorf("attaching start sent detach: %q", out)
	}
}

// TestPendingReserved: Reserved sends the id ahead, once; take then sends
// the start message alone. A monitor closed after Reserved (a create
// that failed) reads the id and then the end of the pipe, and Close
// returns only once it has exited; take of another container than the
// one reserved is refused and ends the monitor.
func TestPendingReserved(t *testing.T) {
	ctx := context.Background()
	// The monitor: each line it reads, as it reads it, then how the pipe
	// ended.
	script := `while read -r line <&4; do echo "line $line" >&3; done; echo end >&3`
	spawn := func() *PendingMonitor {
		t.Helper()
		p, err := SpawnMonitor(ctx, func(string, bool) *exec.Cmd { return exec.Command("sh", "-c", script) }, false)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A create that goes on: the id, then the start message alone.
	p := spawn()
	p.Reserved("c0ffee")
	p.Reserved("c0ffee") // once
	p.Created(&Container{ID: "c0ffee"})
	mon, err := p.take(&Container{ID: "c0ffee", Name: "web"}, AttachHello{}, false)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(mon.sync)
	mon.sync.Close()
	mon.cmd.Wait()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 || lines[0] != "line c0ffee" || !strings.HasPrefix(lines[1], `line {"record":{"id":"c0ffee"`) || lines[2] != "end" {
		t.Errorf("monitor read %q, want the id once, then the start message", out)
	}
	p.Close()

	// A create that fails after the reservation (Close closes the sync
	// pipe: this monitor writes to a file).
	logFile := filepath.Join(t.TempDir(), "read")
	p, err = SpawnMonitor(ctx, func(string, bool) *exec.Cmd {
		return exec.Command("sh", "-c", `while read -r line <&4; do echo "line $line" >>"$0"; done; sleep 0.1; echo end >>"$0"`, logFile)
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	p.Reserved("c0ffee")
	cmd := p.mon.cmd
	p.Close()
	if cmd.ProcessState == nil {
		t.Fatal("Close returned before the monitor exited")
	}
	if got, _ := os.ReadFile(logFile); string(got) != "line c0ffee\nend\n" {
		t.Errorf("closed monitor read %q, want the id and the end", got)
	}

	// Another container than the one reserved.
	p = spawn()
	p.Reserved("c0ffee")
	cmd = p.mon.cmd
	if _, err := p.take(&Container{ID: "beef"}, AttachHello{}, false); err == nil || !strings.Contains(err.Error(), "c0ffee") {
		t.Errorf("take of another container: %v", err)
	}
	if cmd.ProcessState == nil {
		t.Error("the monitor of the refused take was not ended")
	}
	p.Close()

	// Nothing to send to a monitor that could not start, nor to nil.
	p, err = SpawnMonitor(ctx, func(string, bool) *exec.Cmd { return exec.Command("/nonexistent/monitor") }, false)
	if err != nil {
		t.Fatal(err)
	}
	p.Reserved("c0ffee")
	if p.reserved != "" {
		t.Error("Reserved recorded an id sent to no monitor")
	}
	p.Close()
	var none *PendingMonitor
	none.Reserved("c0ffee")
}

// readPending reads the id and the start message from r at once, as a
// pending monitor does (PendingReader); ok is false unless both came.
func readPending(r io.Reader) (id string, start MonitorStart, ok bool) {
	pr := NewPendingReader(r)
	if id, ok = pr.ID(); !ok {
		return "", start, false
	}
	if start, ok = pr.Start(); !ok {
		return "", start, false
	}
	return id, start, true
}
