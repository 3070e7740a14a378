package runc

import (
	"bufio"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stockade/stockade/ociruntime"
)

// TestRunForeground: runc's foreground run returns once the process runs,
// with runc's own pid; runc passes the process's output and exit status
// on (128+n for a signal) and deletes the container itself, so Holds
// says false; a run that fails before the process starts returns runc's
// error and leaves no container.
func TestRunForeground(t *testing.T) {
	r := newTestRunc(t)
	ctx := context.Background()
	for _, tt := range []struct {
		name     string
		steps    []string
		signal   syscall.Signal // sent with Kill once the first line came
		wantLine string
		want     int
	}{
		{"exit status", []string{"out:hello", "exit:3"}, 0, "hello", 3},
		{"exit 0", []string{"out:done"}, 0, "done", 0},
		{"killed", []string{"out:up", "sleep:60"}, syscall.SIGKILL, "up", 128 + int(syscall.SIGKILL)},
		{"terminated", []string{"on-term:7", "out:up", "sleep:60"}, syscall.SIGTERM, "up", 7},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := "fg-" + strings.ReplaceAll(tt.name, " ", "-")
			outR, outW := pipe(t)
			pidFile := filepath.Join(t.TempDir(), "pid")
			rpid, err := r.RunForeground(ctx, id, ociruntime.CreateOpts{Bundle: runcBundle(t, tt.steps...), PidFile: pidFile,
				IO: ociruntime.IO{Stdout: outW, Stderr: outW}})
			outW.Close()
			if err != nil {
				t.Fatalf("RunForeground: %v", err)
			}
			cpid := readPidFile(t, pidFile)
			if cpid == rpid {
				t.Fatalf("runc's pid %d is the container's", rpid)
			}
			c := &running{id: id, pid: cpid, out: bufio.NewReader(outR)}
			if got := c.line(t); got != tt.wantLine {
				t.Errorf("output %q, want %q", got, tt.wantLine)
			}
			if tt.signal != 0 {
				if !r.Holds(id) {
					t.Errorf("Holds(%s) = false while it runs", id)
				}
				if err := r.Kill(ctx, id, tt.signal, false); err != nil {
					t.Fatalf("Kill: %v", err)
				}
			}
			ws := waitPid(t, rpid)
			if !ws.Exited() || ws.ExitStatus() != tt.want {
				t.Errorf("runc ended with %v (exited %v, status %d), want exit %d", ws, ws.Exited(), ws.ExitStatus(), tt.want)
			}
			if r.Holds(id) {
				t.Errorf("Holds(%s) = true after runc ended", id)
			}
			if _, err := r.State(ctx, id); !errors.Is(err, ociruntime.ErrNotFound) {
				t.Errorf("State after the end: %v, want ErrNotFound", err)
			}
		})
	}

	t.Run("fails before the start", func(t *testing.T) {
		pidFile := filepath.Join(t.TempDir(), "pid")
		_, err := r.RunForeground(ctx, "fg-missing", ociruntime.CreateOpts{Bundle: filepath.Join(t.TempDir(), "none"), PidFile: pidFile})
		var rerr *Error
		if !errors.As(err, &rerr) || rerr.Op != "run" || rerr.Msg == "" {
			t.Fatalf("RunForeground of a missing bundle: %v, want runc's error", err)
		}
		if r.Holds("fg-missing") {
			t.Error("a failed foreground run left a container")
		}
	})

	t.Run("unsupported", func(t *testing.T) {
		_, err := r.RunForeground(ctx, "fg-tty", ociruntime.CreateOpts{Bundle: t.TempDir(), PidFile: filepath.Join(t.TempDir(), "pid"),
			IO: ociruntime.IO{Terminal: true, ConsoleSocket: "/nonexistent"}})
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("RunForeground with a terminal: %v, want ErrUnsupported", err)
		}
	})
}
