package runcstate

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// fakeInit makes a state directory whose init is the process cmd runs
// (its pid and start time, as runc records them) and whose exec fifo
// cmd may open to write; it returns the container and the fifo's path.
func fakeInit(t *testing.T, script string) (*Container, *exec.Cmd, string) {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "c1")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, execFifoName)
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", script, "sh", fifo)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	stat, err := readProcStat(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	state := fmt.Sprintf(`{"id":"c1","init_process_pid":%d,"init_process_start":%d,"created":"2026-12-05T00:00:00Z",
"config":{"rootfs":"/r","version":"1.0.2","cgroups":{}},"cgroup_paths":{}}`, cmd.Process.Pid, stat.StartTime)
	if err := os.WriteFile(filepath.Join(dir, stateFileName), []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(root, "c1")
	if err != nil {
		t.Fatal(err)
	}
	return c, cmd, fifo
}

// TestStart: start reads the byte the init writes and removes the fifo;
// an init that dies before it writes is left to runc, and the read does
// not stay blocked.
func TestStart(t *testing.T) {
	t.Run("started", func(t *testing.T) {
		c, _, fifo := fakeInit(t, `printf 0 > "$1"; sleep 60`)
		if s, err := c.Status(); err != nil || s != Created {
			t.Fatalf("status %v, %v", s, err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(fifo); !os.IsNotExist(err) {
			t.Errorf("the fifo is still there: %v", err)
		}
		if s, _ := c.Status(); s != Running {
			t.Errorf("status after start: %v", s)
		}
	})
	t.Run("init dies waiting", func(t *testing.T) {
		before := runtime.NumGoroutine()
		c, cmd, _ := fakeInit(t, `sleep 60`)
		go func() {
			time.Sleep(150 * time.Millisecond)
			cmd.Process.Kill()
			cmd.Wait()
		}()
		start := time.Now()
		if err := c.Start(); !errors.Is(err, ErrFallBack) {
			t.Fatalf("Start: %v, want ErrFallBack", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("Start took %v", d)
		}
		for deadline := time.Now().Add(2 * time.Second); runtime.NumGoroutine() > before; {
			if time.Now().After(deadline) {
				t.Fatalf("%d goroutines, %d before: the fifo's reader is still blocked", runtime.NumGoroutine(), before)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	t.Run("not created", func(t *testing.T) {
		c, _, fifo := fakeInit(t, `sleep 60`)
		os.Remove(fifo)
		if err := c.Start(); !errors.Is(err, ErrFallBack) {
			t.Errorf("Start of a running container: %v, want ErrFallBack", err)
		}
	})
}
