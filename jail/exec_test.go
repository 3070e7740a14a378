package jail

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/ociruntime"
)

// running returns a runtime with container c1 created and started on a
// fake kernel.
func running(t *testing.T) (*Runtime, *fakeKernel) {
	t.Helper()
	bundle, _, _ := testBundle(t, nil)
	k := newFake()
	r := New(t.TempDir(), k, nil)
	r.KillWait = 0
	if err := create(t, r, bundle); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background(), "c1"); err != nil {
		t.Fatal(err)
	}
	return r, k
}

func lsProcess() *specs.Process { return &specs.Process{Args: []string{"ls"}, Cwd: "/"} }

func TestExecDetachAndPidFile(t *testing.T) {
	tests := []struct {
		name      string
		detach    bool
		pidFile   string // relative to a temporary directory; "" for none
		wantCode  int
		wantWaits int32
		wantErr   string
	}{
		{"detach with pid file", true, "exec.pid", 0, 0, ""},
		{"detach without pid file", true, "", 0, 0, ""},
		{"attached with pid file", false, "exec.pid", 5, 1, ""},
		{"attached without pid file", false, "", 5, 1, ""},
		{"pid file in a missing directory", true, "nope/exec.pid", -1, 0, "pid file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, k := running(t)
			var waits atomic.Int32
			var got ociruntime.IO
			k.onExec = func(_ *InitPlan, sio ociruntime.IO) func() (int, error) {
				got = sio
				return func() (int, error) { waits.Add(1); return 5, nil }
			}
			var pidFile string
			if tt.pidFile != "" {
				pidFile = filepath.Join(t.TempDir(), tt.pidFile)
			}
			var out bytes.Buffer
			code, err := r.Exec(context.Background(), "c1", ociruntime.ExecOpts{
				Process: lsProcess(), Detach: tt.detach, PidFile: pidFile, IO: ociruntime.IO{Stdout: &out}})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode {
				t.Errorf("code %d, want %d", code, tt.wantCode)
			}
			if n := waits.Load(); n != tt.wantWaits {
				t.Errorf("Wait called %d times, want %d", n, tt.wantWaits)
			}
			if p := k.plans[len(k.plans)-1]; p.Fifo != "" || p.JID != 7 || p.Args[0] != "ls" {
				t.Errorf("plan %+v", p)
			}
			// Detached, the caller's streams are passed on as they are;
			// attached, a pipe stands for a writer that is not a file.
			if _, isFile := got.Stdout.(*os.File); isFile == tt.detach {
				t.Errorf("detach %t: the process got stdout %T", tt.detach, got.Stdout)
			}
			if pidFile != "" && tt.wantErr == "" {
				data, err := os.ReadFile(pidFile)
				if err != nil || string(data) != "1001" {
					t.Errorf("pid file: %q %v, want 1001", data, err)
				}
				if _, err := os.Stat(filepath.Join(filepath.Dir(pidFile), ".exec.pid.tmp")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("temporary pid file left: %v", err)
				}
			}
		})
	}
}

func TestExecNotRunning(t *testing.T) {
	r, k := running(t)
	k.mu.Lock()
	delete(k.alive, 1000)
	k.mu.Unlock()
	if _, err := r.Exec(context.Background(), "c1", ociruntime.ExecOpts{Process: lsProcess(), Detach: true}); !errors.Is(err, ociruntime.ErrNotRunning) {
		t.Errorf("exec in a stopped container: %v", err)
	}
	if _, err := r.Exec(context.Background(), "nope", ociruntime.ExecOpts{Process: lsProcess()}); !errors.Is(err, ociruntime.ErrNotFound) {
		t.Errorf("exec in a missing container: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// dup returns a copy of f's descriptor, as a child inherits it.
func dup(t *testing.T, f any) *os.File {
	t.Helper()
	file, ok := f.(*os.File)
	if !ok {
		t.Fatalf("the process got a %T, not a file", f)
	}
	fd, err := syscall.Dup(int(file.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fd), file.Name())
}

// Exec's wait for the process's output is bounded after the process
// ended: output held open by a descendant cannot make it hang, and output
// that ends soon after the process is not lost.
func TestExecOutputDrain(t *testing.T) {
	never, _ := io.Pipe() // a stdin that never has anything to read
	tests := []struct {
		name string
		// play is the process: it gets the child's streams (dups of what
		// StartInit got) and returns when the process "exits".
		play                 func(t *testing.T, stdin, stdout, stderr *os.File)
		drain                time.Duration
		stdin                io.Reader
		sharedOutput         bool
		wantOut, wantErr     string
		minElapsed, maxElaps time.Duration
	}{
		{"output closed at exit", func(t *testing.T, _, o, e *os.File) {
			o.WriteString("out")
			e.WriteString("err")
			o.Close()
			e.Close()
		}, 5 * time.Second, nil, false, "out", "err", 0, time.Second},
		{"output ends after exit", func(t *testing.T, _, o, e *os.File) {
			go func() {
				time.Sleep(50 * time.Millisecond)
				o.WriteString("late")
				o.Close()
				e.Close()
			}()
		}, 5 * time.Second, nil, false, "late", "", 50 * time.Millisecond, 2 * time.Second},
		{"a daemon holds stdout", func(t *testing.T, _, o, e *os.File) {
			o.WriteString("before")
			e.Close()
			t.Cleanup(func() { o.Close() }) // the daemon lives on
		}, 200 * time.Millisecond, nil, false, "before", "", 200 * time.Millisecond, 2 * time.Second},
		{"a daemon holds stderr", func(t *testing.T, _, o, e *os.File) {
			o.Close()
			e.WriteString("warn")
			t.Cleanup(func() { e.Close() })
		}, 200 * time.Millisecond, nil, false, "", "warn", 200 * time.Millisecond, 2 * time.Second},
		{"stdin never ends", func(t *testing.T, i, o, e *os.File) {
			t.Cleanup(func() { i.Close() })
			o.Close()
			e.Close()
		}, 5 * time.Second, never, false, "", "", 0, time.Second},
		{"cat", func(t *testing.T, i, o, e *os.File) {
			io.Copy(o, i)
			i.Close()
			o.Close()
			e.Close()
		}, 5 * time.Second, strings.NewReader("hello"), false, "hello", "", 0, time.Second},
		{"stdout and stderr on one writer", func(t *testing.T, _, o, e *os.File) {
			o.WriteString("a")
			e.WriteString("b")
			o.Close()
			e.Close()
		}, 5 * time.Second, nil, true, "ab", "ab", 0, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, k := running(t)
			r.ExecIODrain = tt.drain
			k.onExec = func(_ *InitPlan, sio ociruntime.IO) func() (int, error) {
				var in *os.File
				if sio.Stdin != nil {
					in = dup(t, sio.Stdin)
				}
				o, e := dup(t, sio.Stdout), dup(t, sio.Stderr)
				if tt.sharedOutput && sio.Stdout != sio.Stderr {
					t.Errorf("one writer, two pipes")
				}
				done := make(chan struct{})
				go func() {
					defer close(done)
					tt.play(t, in, o, e)
				}()
				return func() (int, error) { <-done; return 7, nil }
			}
			var out, errOut syncBuffer
			sio := ociruntime.IO{Stdin: tt.stdin, Stdout: &out, Stderr: &errOut}
			if tt.sharedOutput {
				sio.Stderr = &out
			}
			start := time.Now()
			code, err := r.Exec(context.Background(), "c1", ociruntime.ExecOpts{Process: lsProcess(), IO: sio})
			elapsed := time.Since(start)
			if err != nil || code != 7 {
				t.Fatalf("exec: %d %v", code, err)
			}
			if elapsed < tt.minElapsed || elapsed > tt.maxElaps {
				t.Errorf("exec took %s, want %s to %s", elapsed, tt.minElapsed, tt.maxElaps)
			}
			if got := out.String(); got != tt.wantOut {
				t.Errorf("stdout %q, want %q", got, tt.wantOut)
			}
			if !tt.sharedOutput {
				if got := errOut.String(); got != tt.wantErr {
					t.Errorf("stderr %q, want %q", got, tt.wantErr)
				}
			}
		})
	}
}

// Streams that are files reach the process as they are: nothing is copied.
func TestExecFileStreams(t *testing.T) {
	r, k := running(t)
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got ociruntime.IO
	k.onExec = func(_ *InitPlan, sio ociruntime.IO) func() (int, error) {
		got = sio
		return func() (int, error) { return 0, nil }
	}
	if _, err := r.Exec(context.Background(), "c1", ociruntime.ExecOpts{Process: lsProcess(), IO: ociruntime.IO{Stdin: f, Stdout: f, Stderr: f}}); err != nil {
		t.Fatal(err)
	}
	if got.Stdin != f || got.Stdout != f || got.Stderr != f {
		t.Errorf("streams replaced: %+v", got)
	}
}

// A failed start releases the relay's pipes.
func TestExecStartFails(t *testing.T) {
	r, k := running(t)
	k.failOn["start_init#2"] = errors.New("ENOEXEC")
	var out bytes.Buffer
	if _, err := r.Exec(context.Background(), "c1", ociruntime.ExecOpts{Process: lsProcess(), IO: ociruntime.IO{Stdout: &out}}); err == nil || !strings.Contains(err.Error(), "ENOEXEC") {
		t.Errorf("err %v", err)
	}
}

// Concurrent callers: distinct ids do not disturb each other; on one id,
// Creates and Deletes are serialized, the losers get a clean ErrExists or
// ErrNotFound, and state.json is always whole.
func TestConcurrentCreateDelete(t *testing.T) {
	bundle, _, _ := testBundle(t, nil)
	k := newFake()
	root := t.TempDir()
	r := New(root, k, nil)
	r.KillWait = time.Second
	ctx := context.Background()
	opts := ociruntime.CreateOpts{Bundle: bundle}

	t.Run("distinct ids", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := "d" + strconv.Itoa(i)
				for range 3 {
					if err := r.Create(ctx, id, opts); err != nil {
						t.Errorf("create %s: %v", id, err)
						return
					}
					if st, err := r.State(ctx, id); err != nil || st.Status != specs.StateCreated {
						t.Errorf("state %s: %+v %v", id, st, err)
					}
					if err := r.Delete(ctx, id, false); err != nil {
						t.Errorf("delete %s: %v", id, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if ids, _ := r.store.ids(); len(ids) != 0 {
			t.Errorf("left: %v", ids)
		}
	})

	t.Run("same id", func(t *testing.T) {
		exists := false
		for round := range 15 {
			var creates, deletes atomic.Int32
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if (i+round)%2 == 0 {
						err := r.Create(ctx, "same", opts)
						switch {
						case err == nil:
							creates.Add(1)
						case !errors.Is(err, ociruntime.ErrExists):
							t.Errorf("round %d: create: %v", round, err)
						}
					} else {
						err := r.Delete(ctx, "same", false)
						switch {
						case err == nil:
							deletes.Add(1)
						case !errors.Is(err, ociruntime.ErrNotFound):
							t.Errorf("round %d: delete: %v", round, err)
						}
					}
				}()
			}
			wg.Wait()
			// Creates and Deletes alternate: the successes differ by the
			// container's existence before and after the round.
			balance := int(creates.Load()) - int(deletes.Load())
			rec, err := r.store.read("same")
			now := err == nil
			if err != nil && !errors.Is(err, ociruntime.ErrNotFound) {
				t.Fatalf("round %d: state.json: %v", round, err)
			}
			if want := b2i(now) - b2i(exists); balance != want {
				t.Errorf("round %d: %d creates, %d deletes, existed %t, exists %t", round, creates.Load(), deletes.Load(), exists, now)
			}
			exists = now
			entries, _ := os.ReadDir(root)
			switch {
			case now && (len(entries) != 1 || entries[0].Name() != "same"):
				t.Errorf("round %d: state directories %v", round, entries)
			case !now && len(entries) != 0:
				t.Errorf("round %d: directory left without state: %v", round, entries)
			}
			if now {
				if rec.ID != "same" || rec.Status != specs.StateCreated || rec.JID != 7 || len(rec.Undo) != 7 {
					t.Errorf("round %d: record %+v", round, rec)
				}
				if _, err := os.Stat(filepath.Join(root, "same", StateFile+".tmp")); err == nil {
					t.Errorf("round %d: temporary state left", round)
				}
			}
		}
		if exists {
			if err := r.Delete(ctx, "same", false); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Kill, Exec and Start wait for the container's lock: when a Delete holds
// it and removes the container, they find no container and touch nothing
// (no signal to a pid, no process in a jail id, that may be reused).
func TestActionsWaitForDelete(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		op   func(r *Runtime) error
	}{
		{"kill", func(r *Runtime) error { return r.Kill(ctx, "c1", syscall.SIGTERM, false) }},
		{"kill --all", func(r *Runtime) error { return r.Kill(ctx, "c1", syscall.SIGKILL, true) }},
		{"exec", func(r *Runtime) error {
			_, err := r.Exec(ctx, "c1", ociruntime.ExecOpts{Process: lsProcess(), Detach: true})
			return err
		}},
		{"start", func(r *Runtime) error { return r.Start(ctx, "c1") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, k := running(t)
			lock, err := r.store.lock("c1")
			if err != nil {
				t.Fatal(err)
			}
			k.reset()
			done := make(chan error, 1)
			go func() { done <- tc.op(r) }()
			select {
			case err := <-done:
				lock.Close()
				t.Fatalf("returned while another process held the lock: %v", err)
			case <-time.After(100 * time.Millisecond):
			}
			if err := r.store.remove("c1"); err != nil {
				t.Fatal(err)
			}
			lock.Close()
			if err := <-done; !errors.Is(err, ociruntime.ErrNotFound) {
				t.Errorf("after the delete: %v, want ErrNotFound", err)
			}
			if calls := k.log(); len(calls) != 0 {
				t.Errorf("acted on a deleted container: %q", calls)
			}
		})
	}
}

// Every operation refuses an id that is not a jail name before it touches
// the state directory, so that "../x" cannot reach outside the root.
func TestOperationsValidateID(t *testing.T) {
	ctx := context.Background()
	r := New(t.TempDir(), newFake(), nil)
	for _, id := range []string{"../x", "a/b", "", "12"} {
		errs := map[string]error{
			"start":  r.Start(ctx, id),
			"kill":   r.Kill(ctx, id, syscall.SIGTERM, false),
			"delete": r.Delete(ctx, id, true),
		}
		_, errs["state"] = r.State(ctx, id)
		_, errs["exec"] = r.Exec(ctx, id, ociruntime.ExecOpts{Process: lsProcess()})
		for op, err := range errs {
			if err == nil || errors.Is(err, ociruntime.ErrNotFound) || !strings.HasPrefix(err.Error(), op+": ") {
				t.Errorf("%s %q: %v, want a refusal of the id", op, id, err)
			}
		}
	}
}
