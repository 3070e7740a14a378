package runc

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/ociruntime"
)

// TestRuncPause: a paused container's process handles no signal until
// Resume; runc reports it paused in between.
func TestRuncPause(t *testing.T) {
	r := newTestRunc(t)
	ctx := context.Background()
	c := runcRun(t, r, "pause1", true, "on-term:42", "out:ready", "sleep:60")
	if l := c.line(t); l != "ready" {
		t.Fatalf("got %q", l)
	}
	if err := r.Pause(ctx, c.id); err != nil {
		t.Fatal(err)
	}
	if st, err := r.State(ctx, c.id); err != nil || st.Status != "paused" {
		t.Fatalf("state after Pause: %+v, %v", st, err)
	}
	if err := r.Kill(ctx, c.id, syscall.SIGTERM, false); err != nil {
		t.Fatal(err)
	}
	// Frozen: the handler does not run.
	lines := make(chan string, 1)
	go func() {
		l, _ := c.out.ReadString('\n')
		lines <- strings.TrimSuffix(l, "\n")
	}()
	select {
	case l := <-lines:
		t.Fatalf("a paused process printed %q", l)
	case <-time.After(500 * time.Millisecond):
	}
	if err := r.Resume(ctx, c.id); err != nil {
		t.Fatal(err)
	}
	select {
	case l := <-lines:
		if l != "got SIGTERM" {
			t.Errorf("after Resume: %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no output 10s after Resume")
	}
	if ws := waitPid(t, c.pid); !ws.Exited() || ws.ExitStatus() != 42 {
		t.Errorf("exit status %#x, want 42", ws)
	}
	waitStatus(t, r, c.id, specs.StateStopped)
	if err := r.Pause(ctx, "nope"); !errors.Is(err, ociruntime.ErrNotFound) {
		t.Errorf("Pause of a container that does not exist: %v, want ErrNotFound", err)
	}
}
