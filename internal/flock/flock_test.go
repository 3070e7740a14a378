package flock

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// holderEnv, when set in the environment of this test binary, makes it a
// helper process: it takes the lock "<mode>:<path>" names, prints "locked",
// and holds it until its standard input closes or it is killed.
const holderEnv = "FLOCK_TEST_HOLD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(holderEnv); spec != "" {
		os.Exit(hold(spec))
	}
	os.Exit(m.Run())
}

func hold(spec string) int {
	mode := Exclusive
	if spec[0] == 's' {
		mode = Shared
	}
	f, err := Acquire(context.Background(), spec[2:], mode)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer f.Close()
	fmt.Println("locked")
	bufio.NewReader(os.Stdin).ReadString('\n')
	return 0
}

// startHolder runs a helper process that holds a lock of mode on path.
// Killing it (the returned function) drops the lock as any crash does.
func startHolder(t *testing.T, path string, mode Mode) (kill func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%c:%s", holderEnv, mode.String()[0], path))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kill = func() {
		cmd.Process.Kill()
		cmd.Wait()
		stdin.Close()
	}
	t.Cleanup(kill)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		kill()
		t.Fatalf("holder process: %q, %v", line, err)
	}
	return kill
}

func open(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestModes checks which pairs of locks, held through two separately
// opened files of one process, conflict.
func TestModes(t *testing.T) {
	tests := []struct {
		held, want Mode
		ok         bool
	}{
		{Exclusive, Exclusive, false},
		{Exclusive, Shared, false},
		{Shared, Exclusive, false},
		{Shared, Shared, true},
	}
	for _, tc := range tests {
		t.Run(tc.held.String()+"/"+tc.want.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "lock")
			a, b := open(t, path), open(t, path)
			if ok, err := TryLock(a, tc.held); !ok || err != nil {
				t.Fatalf("TryLock(%s) on a free file = %v, %v", tc.held, ok, err)
			}
			ok, err := TryLock(b, tc.want)
			if err != nil || ok != tc.ok {
				t.Fatalf("TryLock(%s) while %s is held = %v, %v; want %v", tc.want, tc.held, ok, err, tc.ok)
			}
			if err := Unlock(a); err != nil {
				t.Fatal(err)
			}
			if ok, err := TryLock(b, Exclusive); !ok || err != nil {
				t.Errorf("TryLock(exclusive) after the other's Unlock = %v, %v", ok, err)
			}
		})
	}
}

// TestOtherProcess checks a lock held by another process: TryLock and a
// Lock bounded by a deadline fail while it lives, and the kernel drops its
// lock when it is killed.
func TestOtherProcess(t *testing.T) {
	for _, mode := range []Mode{Exclusive, Shared} {
		t.Run(mode.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "lock")
			kill := startHolder(t, path, mode)
			f := open(t, path)
			if ok, err := TryLock(f, Exclusive); ok || err != nil {
				t.Fatalf("TryLock(exclusive) while another process holds a %s lock = %v, %v", mode, ok, err)
			}
			if mode == Shared {
				if ok, err := TryLock(f, Shared); !ok || err != nil {
					t.Fatalf("TryLock(shared) beside another process's shared lock = %v, %v", ok, err)
				}
				if err := Unlock(f); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			if err := Lock(ctx, f, Exclusive); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Lock with a deadline while another process holds the lock: %v, want DeadlineExceeded", err)
			}
			kill()
			f = open(t, path) // the failed Lock closed f
			ctx, cancel = context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if err := Lock(ctx, f, Exclusive); err != nil {
				t.Fatalf("Lock after the holder was killed: %v", err)
			}
		})
	}
}

// TestLockWaits checks that Lock, cancellable or not, returns once the
// holder lets go, holding the lock.
func TestLockWaits(t *testing.T) {
	for _, tc := range []struct {
		name string
		ctx  func(t *testing.T) context.Context
	}{
		{"cancellable", func(t *testing.T) context.Context { return t.Context() }},
		{"background", func(*testing.T) context.Context { return context.Background() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "lock")
			holder, waiter := open(t, path), open(t, path)
			if err := Lock(t.Context(), holder, Exclusive); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- Lock(tc.ctx(t), waiter, Shared) }()
			select {
			case err := <-done:
				t.Fatalf("Lock returned %v while the lock was held", err)
			case <-time.After(30 * time.Millisecond):
			}
			holder.Close()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Lock after the holder closed its file: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Lock still waiting 10 s after the holder closed its file")
			}
			third := open(t, path)
			if ok, err := TryLock(third, Exclusive); ok || err != nil {
				t.Errorf("TryLock(exclusive) beside the waiter's new lock = %v, %v; want false", ok, err)
			}
		})
	}
}

func TestAcquire(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "lock")
	if _, err := Acquire(t.Context(), path, Exclusive); err == nil {
		t.Fatal("Acquire in a missing directory succeeded")
	}
	path = filepath.Join(t.TempDir(), "lock")
	f, err := Acquire(t.Context(), path, Exclusive)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("lock file: %v, %v; want mode 0600", fi, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if g, err := Acquire(ctx, path, Shared); !errors.Is(err, context.DeadlineExceeded) {
		if g != nil {
			g.Close()
		}
		t.Fatalf("second Acquire while held: %v, want DeadlineExceeded", err)
	}
	f.Close()
	g, err := Acquire(t.Context(), path, Shared)
	if err != nil {
		t.Fatalf("Acquire after the first was closed: %v", err)
	}
	g.Close()
}

// heldPair opens a lock file twice: holder, which holds an exclusive lock,
// and waiter, for the caller to close (Lock closes it on failure).
func heldPair(t *testing.T) (path string, holder, waiter *os.File) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "lock")
	holder = open(t, path)
	if ok, err := TryLock(holder, Exclusive); !ok || err != nil {
		t.Fatal(ok, err)
	}
	waiter, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	return path, holder, waiter
}

// TestLockWakesAndCancels checks Lock's kernel wait: the waiter has the
// lock as soon as the holder lets go, before the holder can take it back
// 20 ms later, where a polling wait (Lock's old one was at 100 ms a try
// by then) would still be asleep; and a cancelled wait leaves no lock
// behind once the holder lets go.
func TestLockWakesAndCancels(t *testing.T) {
	t.Run("woken at the release", func(t *testing.T) {
		_, holder, waiter := heldPair(t)
		defer waiter.Close()
		done := make(chan error, 1)
		go func() { done <- Lock(t.Context(), waiter, Shared) }()
		// Past the old polling wait's back-off steps (1+2+...+64 ms): it
		// would now try every 100 ms, at about 227 and 327 ms.
		time.Sleep(250 * time.Millisecond)
		select {
		case err := <-done:
			t.Fatalf("Lock returned %v while the lock was held", err)
		default:
		}
		if err := Unlock(holder); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		if ok, err := TryLock(holder, Exclusive); ok || err != nil {
			t.Fatalf("the holder took its lock back 20 ms after the release (%v, %v): the waiter was not woken", ok, err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Lock: %v", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		path, holder, waiter := heldPair(t)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
		defer cancel()
		if err := Lock(ctx, waiter, Exclusive); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Lock while held, with a deadline: %v, want DeadlineExceeded", err)
		}
		holder.Close()
		// The abandoned wait gets the lock, then closes its file: the
		// lock is free again soon after.
		third := open(t, path)
		deadline := time.Now().Add(10 * time.Second)
		for {
			ok, err := TryLock(third, Exclusive)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a cancelled Lock still holds the lock 10 s after the holder let go")
			}
			time.Sleep(time.Millisecond)
		}
		if err := Lock(ctx, open(t, path), Shared); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Lock with an ended context on a free file: %v, want DeadlineExceeded", err)
		}
	})
}
