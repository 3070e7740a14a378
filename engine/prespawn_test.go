package engine

import (
	"context"
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
	mon, err := p.take("c0ffee")
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
