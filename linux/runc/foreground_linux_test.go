package runc

import (
	"bufio"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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

// TestStartWatchCloseDoesNotWait: the watch's close returns before the
// inotify descriptor's close (which waits for the kernel to free its
// watches, milliseconds) has ended, and the descriptor is closed after.
func TestStartWatchCloseDoesNotWait(t *testing.T) {
	w, err := newStartWatch(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	release, closed := make(chan struct{}), make(chan error, 1)
	w.closeFD = func(fd int) error {
		<-release
		err := unix.Close(fd)
		closed <- err
		return err
	}
	returned := make(chan struct{})
	go func() {
		w.close()
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("close waited for the descriptor's close")
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatalf("the descriptor's close: %v", err)
	}
	if _, err := unix.FcntlInt(uintptr(w.fd), unix.F_GETFD, 0); !errors.Is(err, unix.EBADF) {
		t.Errorf("descriptor %d still open after the close (fcntl: %v)", w.fd, err)
	}
}
