package runc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/internal/testenv"
	"github.com/stockade/stockade/ociruntime"
)

// fakeRuncScript records each run's arguments (one per line, an empty line
// after each run) in rec, copies the --process file to rec.process, and
// behaves according to the container id, its last argument.
const fakeRuncScript = `#!/bin/sh
rec=%q
log= prev= id=
for a in "$@"; do
	[ "$prev" = --log ] && log=$a
	[ "$prev" = --process ] && cp "$a" "$rec.process"
	case "$a" in missing|exists|stderr|silent|exit3|fail255|garbage) id=$a ;; esac
	prev=$a
done
printf '%%s\n' "$@" >>"$rec"; echo >>"$rec"
case "$id" in
missing) echo '{"level":"error","msg":"container does not exist","time":"x"}' >>"$log"; echo 'container does not exist' >&2; exit 1 ;;
exists) echo '{"level":"warning","msg":"some warning"}' >>"$log"
	echo '{"level":"error","msg":"runc create failed: container with given ID already exists"}' >>"$log"; exit 1 ;;
stderr) echo 'first line' >&2; echo 'boom on stderr' >&2; exit 1 ;;
silent) exit 2 ;;
exit3) exit 3 ;;
fail255) echo '{"level":"error","msg":"exec failed: cannot exec in a stopped container"}' >>"$log"; exit 255 ;;
garbage) echo 'not json' ;;
esac
case " $* " in
*" state "*) echo '{"ociVersion":"1.0.2","id":"c1","pid":42,"status":"running","bundle":"/b","rootfs":"/b/rootfs","created":"2026-11-25T20:18:54Z","owner":""}' ;;
*" list "*) echo '[{"ociVersion":"1.0.2","id":"a","pid":0,"status":"stopped","bundle":"/a"},{"ociVersion":"1.0.2","id":"b","pid":7,"status":"running","bundle":"/b"}]' ;;
esac
exit 0
`

// fakeRunc returns a Runtime over a shell script standing in for runc, and a
// function returning the runs recorded since the last call, each with the
// --log and --process file names replaced by LOG and PROC.
func fakeRunc(t *testing.T, log *slog.Logger) (*Runtime, func() [][]string) {
	t.Helper()
	dir := t.TempDir()
	rec := filepath.Join(dir, "record")
	bin := filepath.Join(dir, "runc")
	if err := os.WriteFile(bin, fmt.Appendf(nil, fakeRuncScript, rec), 0o755); err != nil {
		t.Fatal(err)
	}
	r := New(bin, "/state/runc", log)
	return r, func() [][]string {
		data, _ := os.ReadFile(rec)
		os.Remove(rec)
		var runs [][]string
		for _, run := range strings.Split(strings.TrimSuffix(string(data), "\n\n"), "\n\n") {
			if run == "" {
				continue
			}
			args := strings.Split(run, "\n")
			for i := range args {
				if i > 0 && (args[i-1] == "--log" || args[i-1] == "--process") {
					args[i] = map[string]string{"--log": "LOG", "--process": "PROC"}[args[i-1]]
				}
			}
			runs = append(runs, args)
		}
		return runs
	}
}

func TestRuncCommandLines(t *testing.T) {
	r, runs := fakeRunc(t, nil)
	ctx := context.Background()
	extra, extraW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	defer extraW.Close()
	g := []string{"--root", "/state/runc", "--log", "LOG", "--log-format", "json"}
	tests := []struct {
		name string
		do   func() error
		want []string
	}{
		{"create", func() error {
			return r.Create(ctx, "c1", ociruntime.CreateOpts{Bundle: "/b"})
		}, []string{"create", "--bundle", "/b", "c1"}},
		{"create all flags", func() error {
			return r.Create(ctx, "c1", ociruntime.CreateOpts{Bundle: "/b", PidFile: "/p", IO: ociruntime.IO{
				Terminal: true, ConsoleSocket: "/s", ExtraFiles: []*os.File{extra}}})
		}, []string{"create", "--bundle", "/b", "--pid-file", "/p", "--console-socket", "/s", "--preserve-fds", "1", "c1"}},
		{"run", func() error {
			return r.Run(ctx, "c1", ociruntime.CreateOpts{Bundle: "/b", PidFile: "/p"})
		}, []string{"run", "--detach", "--bundle", "/b", "--pid-file", "/p", "c1"}},
		{"start", func() error { return r.Start(ctx, "c1") }, []string{"start", "c1"}},
		{"state", func() error { _, err := r.State(ctx, "c1"); return err }, []string{"state", "c1"}},
		{"kill", func() error { return r.Kill(ctx, "c1", syscall.SIGTERM, false) }, []string{"kill", "c1", "15"}},
		{"kill all", func() error { return r.Kill(ctx, "c1", syscall.SIGKILL, true) }, []string{"kill", "--all", "c1", "9"}},
		{"delete", func() error { return r.Delete(ctx, "c1", false) }, []string{"delete", "c1"}},
		{"delete force", func() error { return r.Delete(ctx, "c1", true) }, []string{"delete", "--force", "c1"}},
		{"exec", func() error {
			_, err := r.Exec(ctx, "c1", ociruntime.ExecOpts{Process: &specs.Process{Args: []string{"/x"}, Cwd: "/"}})
			return err
		}, []string{"exec", "--process", "PROC", "c1"}},
		{"exec detached tty", func() error {
			_, err := r.Exec(ctx, "c1", ociruntime.ExecOpts{Process: &specs.Process{Args: []string{"/x"}, Cwd: "/"},
				Detach: true, PidFile: "/p", IO: ociruntime.IO{Terminal: true, ConsoleSocket: "/s"}})
			return err
		}, []string{"exec", "--process", "PROC", "--detach", "--tty", "--pid-file", "/p", "--console-socket", "/s", "c1"}},
		{"list", func() error { _, err := r.List(ctx); return err }, []string{"list", "--format", "json"}},
		{"pause", func() error { return r.Pause(ctx, "c1") }, []string{"pause", "c1"}},
		{"resume", func() error { return r.Resume(ctx, "c1") }, []string{"resume", "c1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); err != nil {
				t.Fatal(err)
			}
			got := runs()
			want := append(append([]string{}, g...), tt.want...)
			if len(got) != 1 || strings.Join(got[0], " ") != strings.Join(want, " ") {
				t.Errorf("ran %q\n want %q", got, want)
			}
		})
	}
}

func TestRuncFakeOutcomes(t *testing.T) {
	var logBuf bytes.Buffer
	r, runs := fakeRunc(t, slog.New(slog.NewTextHandler(&logBuf, nil)))
	ctx := context.Background()

	st, err := r.State(ctx, "c1")
	if err != nil || st.ID != "c1" || st.Pid != 42 || st.Status != specs.StateRunning || st.Bundle != "/b" || st.Version != "1.0.2" {
		t.Errorf("State = %+v, %v", st, err)
	}
	list, err := r.List(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "a" || list[1].Status != specs.StateRunning {
		t.Errorf("List = %+v, %v", list, err)
	}

	proc := &specs.Process{Args: []string{"/prog", "x"}, Cwd: "/", Env: []string{"A=1"}}
	code, err := r.Exec(ctx, "exit3", ociruntime.ExecOpts{Process: proc, IO: ociruntime.IO{Terminal: true}})
	if err != nil || code != 3 {
		t.Errorf("Exec = %d, %v; want 3, nil", code, err)
	}
	if proc.Terminal {
		t.Error("Exec changed the caller's process")
	}
	var written specs.Process
	data, _ := os.ReadFile(filepath.Join(filepath.Dir(r.Binary()), "record.process"))
	if err := json.Unmarshal(data, &written); err != nil || !written.Terminal || written.Args[1] != "x" || written.Env[0] != "A=1" {
		t.Errorf("process file %s: %v", data, err)
	}

	tests := []struct {
		name    string
		do      func() error
		wantMsg string
		wantIs  error
	}{
		{"not found", func() error { return r.Start(ctx, "missing") }, "runc start missing: container does not exist", ociruntime.ErrNotFound},
		{"exists, prefix dropped", func() error { return r.Create(ctx, "exists", ociruntime.CreateOpts{Bundle: "/b"}) },
			"runc create exists: container with given ID already exists", ociruntime.ErrExists},
		{"stderr when nothing logged", func() error { return r.Kill(ctx, "stderr", 9, false) }, "runc kill stderr: boom on stderr", nil},
		{"exit status when nothing said", func() error { return r.Delete(ctx, "silent", false) }, "runc delete silent: exit status 2", nil},
		{"exec error told from exit code", func() error {
			_, err := r.Exec(ctx, "fail255", ociruntime.ExecOpts{Process: proc})
			return err
		}, "runc exec fail255: exec failed: cannot exec in a stopped container", ociruntime.ErrNotRunning},
		{"bad state output", func() error { _, err := r.State(ctx, "garbage"); return err }, "runc state garbage: reading its output: invalid character 'o' in literal null (expecting 'u')", nil},
		{"no process", func() error { _, err := r.Exec(ctx, "c1", ociruntime.ExecOpts{}); return err }, "runc exec c1: no process given", nil},
		{"no id", func() error { return r.Start(ctx, "") }, "runc start: no container id given", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if err == nil || err.Error() != tt.wantMsg {
				t.Fatalf("got %v\nwant %s", err, tt.wantMsg)
			}
			var re *Error
			if !errors.As(err, &re) {
				t.Errorf("%T is not a *Error", err)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("%v is not %v", err, tt.wantIs)
			}
		})
	}
	runs()
	if !strings.Contains(logBuf.String(), `level=WARN msg="some warning" runtime=runc op=create id=exists`) {
		t.Errorf("runtime warning not logged: %s", logBuf.String())
	}
	if left, _ := filepath.Glob(filepath.Join(os.TempDir(), "stockade-runc-*")); len(left) > 0 {
		// Other test processes may be running; only report ours.
		for _, f := range left {
			if data, _ := os.ReadFile(f); bytes.Contains(data, []byte("some warning")) {
				t.Errorf("temporary file left: %s", f)
			}
		}
	}
}

func TestRuncMissingBinary(t *testing.T) {
	tests := []struct {
		binary string
		want   string
	}{
		{"no-such-runc-binary", "no-such-runc-binary create c1: runtime no-such-runc-binary: executable file not found in $PATH"},
		{"/nonexistent/crun", "crun create c1: runtime /nonexistent/crun: stat /nonexistent/crun: no such file or directory"},
	}
	for _, tt := range tests {
		r := New(tt.binary, t.TempDir(), nil)
		err := r.Create(context.Background(), "c1", ociruntime.CreateOpts{Bundle: t.TempDir()})
		if err == nil || err.Error() != tt.want {
			t.Errorf("got %v\nwant %s", err, tt.want)
		}
	}
	err := New("no-such-runc-binary", t.TempDir(), nil).Start(context.Background(), "c1")
	if !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("%v is not exec.ErrNotFound", err)
	}
}

// ---- real runc ----

// testRuntimeBinary is the runtime the tests drive: runc, or
// $STOCKADE_TEST_RUNC (crun, say).
func testRuntimeBinary() string {
	if b := os.Getenv("STOCKADE_TEST_RUNC"); b != "" {
		return b
	}
	return "runc"
}

var ctrProg struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// TestMain removes the directory of the program buildCtrProg built.
func TestMain(m *testing.M) {
	code := m.Run()
	if ctrProg.dir != "" {
		os.RemoveAll(ctrProg.dir)
	}
	os.Exit(code)
}

// buildCtrProg builds testdata/ctrprog statically, once per test process,
// into a temporary directory of the process's own that TestMain removes.
func buildCtrProg(t *testing.T) string {
	t.Helper()
	ctrProg.once.Do(func() {
		ctrProg.dir, ctrProg.err = os.MkdirTemp("", "stockade-test-ctrprog-")
		if ctrProg.err != nil {
			return
		}
		ctrProg.path = filepath.Join(ctrProg.dir, "ctrprog")
		goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goBin); err != nil {
			goBin = "go"
		}
		cmd := exec.Command(goBin, "build", "-o", ctrProg.path, "./testdata/ctrprog")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=-buildvcs=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			ctrProg.err = fmt.Errorf("go build ./testdata/ctrprog: %v\n%s", err, out)
		}
	})
	if ctrProg.err != nil {
		t.Fatal(ctrProg.err)
	}
	return ctrProg.path
}

var subreaper struct {
	once sync.Once
	err  error
}

// newTestRunc returns a Runtime over the real runtime with its own --root,
// skipping t when that cannot work here. This test process becomes a child
// subreaper, as stockade's monitor is, so the containers' processes become
// its children when runc exits and their exit statuses can be waited for.
// Containers left behind are deleted when t ends.
func newTestRunc(t *testing.T) *Runtime {
	t.Helper()
	testenv.RequireRoot(t, "running containers")
	testenv.RequireCommand(t, testRuntimeBinary())
	subreaper.once.Do(func() {
		subreaper.err = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	})
	if subreaper.err != nil {
		t.Fatalf("PR_SET_CHILD_SUBREAPER: %v", subreaper.err)
	}
	buildCtrProg(t)
	r := New(testRuntimeBinary(), filepath.Join(t.TempDir(), "runc"), slog.New(slog.NewTextHandler(tWriter{t}, nil)))
	t.Cleanup(func() {
		ctx := context.Background()
		list, _ := r.List(ctx)
		for _, st := range list {
			if err := r.Delete(ctx, st.ID, true); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	return r
}

// tWriter logs through t.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// runcTestSpec is a minimal runtime-spec configuration running /prog with
// args in new pid, mount, ipc, uts and network namespaces.
func runcTestSpec(args []string) *specs.Spec {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	return &specs.Spec{
		Version: "1.0.2",
		Process: &specs.Process{
			Args:            append([]string{"/prog"}, args...),
			Env:             []string{"PATH=/", "HOME=/"},
			Cwd:             "/",
			NoNewPrivileges: true,
			Capabilities:    &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
		},
		Root:     &specs.Root{Path: "rootfs"},
		Hostname: "stockade-test",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.NetworkNamespace},
			},
			Resources:     &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
			MaskedPaths:   []string{"/proc/kcore", "/proc/keys", "/sys/firmware"},
			ReadonlyPaths: []string{"/proc/bus", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

// runcBundle makes a bundle whose rootfs holds only the test program, run
// with the given steps.
func runcBundle(t *testing.T, steps ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	prog, err := os.ReadFile(buildCtrProg(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rootfs", "prog"), prog, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := json.MarshalIndent(runcTestSpec(steps), "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// pipe returns an os.Pipe closed when t ends.
func pipe(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// running is a container created through runcRun.
type running struct {
	id  string
	pid int
	out *bufio.Reader // stdout and stderr
}

// runcRun creates (and, if start, starts) a container running steps, with
// stdout and stderr on one pipe, and returns it once its pid is known.
func runcRun(t *testing.T, r *Runtime, id string, start bool, steps ...string) *running {
	t.Helper()
	ctx := context.Background()
	outR, outW := pipe(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	err := r.Create(ctx, id, ociruntime.CreateOpts{Bundle: runcBundle(t, steps...), PidFile: pidFile,
		IO: ociruntime.IO{Stdout: outW, Stderr: outW}})
	outW.Close()
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	pid := readPidFile(t, pidFile)
	if start {
		if err := r.Start(ctx, id); err != nil {
			t.Fatalf("Start: %v", err)
		}
	}
	return &running{id: id, pid: pid, out: bufio.NewReader(outR)}
}

func readPidFile(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		t.Fatalf("pid file %q: %v", data, err)
	}
	return pid
}

// line reads the container's next output line.
func (c *running) line(t *testing.T) string {
	t.Helper()
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() { s, err := c.out.ReadString('\n'); ch <- result{s, err} }()
	select {
	case res := <-ch:
		if res.err != nil {
			t.Fatalf("reading the output of %s: %v (got %q)", c.id, res.err, res.s)
		}
		return strings.TrimSuffix(res.s, "\n")
	case <-time.After(20 * time.Second):
		t.Fatalf("no output from %s", c.id)
	}
	return ""
}

// waitPid waits for a process this test (a subreaper) inherited.
func waitPid(t *testing.T, pid int) syscall.WaitStatus {
	t.Helper()
	type result struct {
		ws  syscall.WaitStatus
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var ws syscall.WaitStatus
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		ch <- result{ws, err}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			t.Fatalf("wait4(%d): %v", pid, res.err)
		}
		return res.ws
	case <-time.After(20 * time.Second):
		t.Fatalf("process %d did not end", pid)
	}
	return 0
}

// wantStatus checks the container's state.
func wantStatus(t *testing.T, r *Runtime, id string, want specs.ContainerState) specs.State {
	t.Helper()
	st, err := r.State(context.Background(), id)
	if err != nil {
		t.Fatalf("State(%s): %v", id, err)
	}
	if st.Status != want {
		t.Fatalf("State(%s).Status = %s, want %s", id, st.Status, want)
	}
	return st
}

// waitStatus polls the container's state until it is want.
func waitStatus(t *testing.T, r *Runtime, id string, want specs.ContainerState) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := r.State(context.Background(), id)
		if err == nil && st.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("State(%s) = %+v, %v; waited for %s", id, st, err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRuncLifecycle: create, start, the process's stdio on *os.File pipes
// of the caller, its exit status, and the states in between.
func TestRuncLifecycle(t *testing.T) {
	r := newTestRunc(t)
	ctx := context.Background()
	bundle := runcBundle(t, "out:hello", "err:oops", "cat", "exit:3")
	inR, inW := pipe(t)
	outR, outW := pipe(t)
	errR, errW := pipe(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	err := r.Create(ctx, "life", ociruntime.CreateOpts{Bundle: bundle, PidFile: pidFile,
		IO: ociruntime.IO{Stdin: inR, Stdout: outW, Stderr: errW}})
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		t.Fatal(err)
	}
	pid := readPidFile(t, pidFile)
	st := wantStatus(t, r, "life", specs.StateCreated)
	if st.ID != "life" || st.Pid != pid || st.Bundle != bundle {
		t.Errorf("created: %+v (pid file %d)", st, pid)
	}
	// Nothing runs before Start.
	outR.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := outR.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("output before start: %d, %v", n, err)
	}
	outR.SetReadDeadline(time.Time{})

	if err := r.Start(ctx, "life"); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewReader(outR)
	if line, err := out.ReadString('\n'); line != "hello\n" || err != nil {
		t.Fatalf("first line %q, %v", line, err)
	}
	wantStatus(t, r, "life", specs.StateRunning) // waiting in cat
	if _, err := inW.WriteString("from stdin\n"); err != nil {
		t.Fatal(err)
	}
	inW.Close()
	rest, _ := io.ReadAll(out)
	stderr, _ := io.ReadAll(errR)
	if string(rest) != "from stdin\n" || string(stderr) != "oops\n" {
		t.Errorf("stdout rest %q, stderr %q", rest, stderr)
	}
	if ws := waitPid(t, pid); !ws.Exited() || ws.ExitStatus() != 3 {
		t.Errorf("exit status %v, want exit 3", ws)
	}
	wantStatus(t, r, "life", specs.StateStopped)
	if err := r.Delete(ctx, "life", false); err != nil {
		t.Fatal(err)
	}
	if _, err := r.State(ctx, "life"); !errors.Is(err, ociruntime.ErrNotFound) {
		t.Errorf("State after Delete: %v, want ErrNotFound", err)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRuncWriters: streams that are not files go through pipes whose
// copying outlives Create; Delete waits for it.
func TestRuncWriters(t *testing.T) {
	r := newTestRunc(t)
	ctx := context.Background()
	var stdout, stderr syncBuffer
	big := strings.Repeat("x", 200*1024) + "\n" // more than a pipe holds
	err := r.Create(ctx, "writers", ociruntime.CreateOpts{Bundle: runcBundle(t, "out:hello", "cat", "err:bye"),
		IO: ociruntime.IO{Stdin: strings.NewReader(big), Stdout: &stdout, Stderr: &stderr}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, "writers"); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, r, "writers", specs.StateStopped)
	if err := r.Delete(ctx, "writers", false); err != nil {
		t.Fatal(err)
	}
	if got := stdout.String(); got != "hello\n"+big {
		t.Errorf("stdout: %d bytes, want %d", len(got), len("hello\n"+big))
	}
	if got := stderr.String(); got != "bye\n" {
		t.Errorf("stderr %q", got)
	}
}

func TestRuncKill(t *testing.T) {
	r := newTestRunc(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		steps []string
		// kill signals the running container and checks the output.
		kill     func(t *testing.T, c *running)
		wantExit func(ws syscall.WaitStatus) bool
	}{
		{"SIGTERM", []string{"on-term:42", "out:ready", "sleep:60"}, func(t *testing.T, c *running) {
			if err := r.Kill(ctx, c.id, syscall.SIGTERM, false); err != nil {
				t.Fatal(err)
			}
			if l := c.line(t); l != "got SIGTERM" {
				t.Errorf("got %q", l)
			}
		}, func(ws syscall.WaitStatus) bool { return ws.Exited() && ws.ExitStatus() == 42 }},
		{"SIGKILL", []string{"out:ready", "sleep:60"}, func(t *testing.T, c *running) {
			if err := r.Kill(ctx, c.id, syscall.SIGKILL, false); err != nil {
				t.Fatal(err)
			}
		}, func(ws syscall.WaitStatus) bool { return ws.Signaled() && ws.Signal() == syscall.SIGKILL }},
		{"all", []string{"ignore-term", "child:sleep:60", "out:ready", "wait-child", "exit:7"}, func(t *testing.T, c *running) {
			// Without --all only the init process, which ignores
			// it, gets the signal: the child lives on.
			if err := r.Kill(ctx, c.id, syscall.SIGTERM, false); err != nil {
				t.Fatal(err)
			}
			if l := c.line(t); l != "ignored SIGTERM" {
				t.Fatalf("got %q", l)
			}
			wantStatus(t, r, c.id, specs.StateRunning)
			// With --all the child gets it too, and dies of it.
			if err := r.Kill(ctx, c.id, syscall.SIGTERM, true); err != nil {
				t.Fatal(err)
			}
			// (init may exit before it prints that it ignored
			// the signal once more)
			rest, _ := io.ReadAll(c.out)
			if !strings.Contains(string(rest), "child: signal: terminated\n") {
				t.Errorf("got %q", rest)
			}
		}, func(ws syscall.WaitStatus) bool { return ws.Exited() && ws.ExitStatus() == 7 }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := runcRun(t, r, fmt.Sprintf("kill%d", i), true, tt.steps...)
			if l := c.line(t); l != "ready" {
				t.Fatalf("got %q", l)
			}
			tt.kill(t, c)
			if ws := waitPid(t, c.pid); !tt.wantExit(ws) {
				t.Errorf("exit status %#x", ws)
			}
			waitStatus(t, r, c.id, specs.StateStopped)
			err := r.Kill(ctx, c.id, syscall.SIGKILL, false)
			if !errors.Is(err, ociruntime.ErrNotRunning) {
				t.Errorf("Kill of a stopped container: %v, want ErrNotRunning", err)
			}
		})
	}
}

func TestRuncDelete(t *testing.T) {
	r := newTestRunc(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		steps   []string
		start   bool
		force   bool
		wantErr error
	}{
		{"running", []string{"out:ready", "sleep:60"}, true, false, ociruntime.ErrRunning},
		{"running forced", []string{"out:ready", "sleep:60"}, true, true, nil},
		{"created", []string{"out:ready"}, false, false, nil},
		{"stopped", []string{"out:ready", "exit:1"}, true, false, nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("delete%d", i)
			c := runcRun(t, r, id, tt.start, tt.steps...)
			if tt.start && c.line(t) != "ready" {
				t.Fatal("not ready")
			}
			if tt.name == "stopped" {
				waitPid(t, c.pid)
			}
			err := r.Delete(ctx, id, tt.force)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("Delete: %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				wantStatus(t, r, id, specs.StateRunning)
				return
			}
			if _, err := r.State(ctx, id); !errors.Is(err, ociruntime.ErrNotFound) {
				t.Errorf("State after Delete: %v", err)
			}
		})
	}
}

func TestRuncExec(t *testing.T) {
	r := newTestRunc(t)
	ctx := context.Background()
	runcRun(t, r, "exec", true, "sleep:60")
	proc := func(steps ...string) *specs.Process {
		return &specs.Process{Args: append([]string{"/prog"}, steps...), Cwd: "/", Env: []string{"PATH=/"}}
	}
	tests := []struct {
		name       string
		process    *specs.Process
		stdin      string
		wantCode   int
		wantStdout string
		wantStderr string
		wantErr    string
	}{
		{"exit code", proc("out:inexec", "exit:5"), "", 5, "inexec\n", "", ""},
		{"success", proc("out:ok"), "", 0, "ok\n", "", ""},
		{"stdin", proc("cat"), "piped in\n", 0, "piped in\n", "", ""},
		{"stderr", proc("err:warn", "exit:1"), "", 1, "", "warn\n", ""},
		{"no such program", &specs.Process{Args: []string{"/nonexistent"}, Cwd: "/"}, "", -1, "", "",
			`runc exec exec: exec failed: unable to start container process: exec: "/nonexistent": stat /nonexistent: no such file or directory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code, err := r.Exec(ctx, "exec", ociruntime.ExecOpts{Process: tt.process,
				IO: ociruntime.IO{Stdin: strings.NewReader(tt.stdin), Stdout: &stdout, Stderr: &stderr}})
			if tt.wantErr != "" {
				if err == nil || (testRuntimeBinary() == "runc" && err.Error() != tt.wantErr) {
					t.Errorf("got %d, %v\nwant %s", code, err, tt.wantErr)
				}
				return
			}
			if err != nil || code != tt.wantCode {
				t.Errorf("got %d, %v; want %d", code, err, tt.wantCode)
			}
			if stdout.String() != tt.wantStdout || stderr.String() != tt.wantStderr {
				t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
			}
		})
	}

	t.Run("detached", func(t *testing.T) {
		outR, outW := pipe(t)
		pidFile := filepath.Join(t.TempDir(), "pid")
		code, err := r.Exec(ctx, "exec", ociruntime.ExecOpts{Process: proc("out:detached", "sleep:0.2", "exit:4"),
			Detach: true, PidFile: pidFile, IO: ociruntime.IO{Stdout: outW}})
		outW.Close()
		if err != nil || code != 0 {
			t.Fatalf("got %d, %v", code, err)
		}
		if ws := waitPid(t, readPidFile(t, pidFile)); ws.ExitStatus() != 4 {
			t.Errorf("exit status %#x, want 4", ws)
		}
		if out, _ := io.ReadAll(outR); string(out) != "detached\n" {
			t.Errorf("output %q", out)
		}
	})

	t.Run("terminal", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "console.sock")
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		master := make(chan *os.File, 1)
		go func() { master <- receiveFd(ln) }()
		pidFile := filepath.Join(t.TempDir(), "pid")
		code, err := r.Exec(ctx, "exec", ociruntime.ExecOpts{Process: proc("out:on a tty", "sleep:0.5"),
			Detach: true, PidFile: pidFile, IO: ociruntime.IO{Terminal: true, ConsoleSocket: sock}})
		if err != nil || code != 0 {
			t.Fatalf("got %d, %v", code, err)
		}
		// A detached process is this subreaper's child: until it is
		// reaped, the container's init could not finish exiting.
		defer waitPid(t, readPidFile(t, pidFile))
		m := <-master
		if m == nil {
			t.Fatal("no pseudo-terminal master received")
		}
		defer m.Close()
		line, err := bufio.NewReader(m).ReadString('\n')
		if line != "on a tty\r\n" || err != nil {
			t.Errorf("read %q, %v", line, err)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := r.Exec(cctx, "exec", ociruntime.ExecOpts{Process: proc("sleep:60")})
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 8*time.Second {
			t.Errorf("got %v after %v", err, time.Since(start))
		}
	})

	t.Run("errors", func(t *testing.T) {
		if _, err := r.Exec(ctx, "nope", ociruntime.ExecOpts{Process: proc("out:x")}); !errors.Is(err, ociruntime.ErrNotFound) {
			t.Errorf("unknown container: %v", err)
		}
		c := runcRun(t, r, "exec-stopped", true, "exit:0")
		waitPid(t, c.pid)
		if _, err := r.Exec(ctx, "exec-stopped", ociruntime.ExecOpts{Process: proc("out:x")}); !errors.Is(err, ociruntime.ErrNotRunning) {
			t.Errorf("stopped container: %v", err)
		}
	})
}

// receiveFd accepts one connection and returns the file descriptor sent on
// it, or nil.
func receiveFd(ln *net.UnixListener) *os.File {
	conn, err := ln.AcceptUnix()
	if err != nil {
		return nil
	}
	defer conn.Close()
	buf, oob := make([]byte, 4096), make([]byte, 4096)
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) == 0 {
		return nil
	}
	fds, err := syscall.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) == 0 {
		return nil
	}
	return os.NewFile(uintptr(fds[0]), "pty-master")
}

func TestRuncList(t *testing.T) {
	r := newTestRunc(t)
	ctx := context.Background()
	list, err := r.List(ctx)
	if err != nil || len(list) != 0 || list == nil {
		t.Fatalf("empty: %#v, %v", list, err)
	}
	runcRun(t, r, "list-a", false, "out:a")
	b := runcRun(t, r, "list-b", true, "out:ready", "sleep:60")
	b.line(t)
	list, err = r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]specs.State{}
	for _, st := range list {
		got[st.ID] = st
	}
	if len(list) != 2 || got["list-a"].Status != specs.StateCreated || got["list-b"].Status != specs.StateRunning ||
		got["list-b"].Pid != b.pid || got["list-a"].Bundle == "" {
		t.Errorf("List = %+v", list)
	}
}

func TestRuncErrors(t *testing.T) {
	r := newTestRunc(t)
	ctx := context.Background()
	c := runcRun(t, r, "dup", true, "out:ready", "sleep:60")
	c.line(t)

	err := r.Create(ctx, "dup", ociruntime.CreateOpts{Bundle: runcBundle(t, "out:x")})
	if !errors.Is(err, ociruntime.ErrExists) || !strings.HasPrefix(err.Error(), "runc create dup: ") && testRuntimeBinary() == "runc" {
		t.Errorf("duplicate id: %v, want ErrExists", err)
	}
	wantStatus(t, r, "dup", specs.StateRunning)

	err = r.Create(ctx, "nobundle", ociruntime.CreateOpts{Bundle: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("bundle without config.json: %v", err)
	}
	if _, err := r.State(ctx, "nobundle"); !errors.Is(err, ociruntime.ErrNotFound) {
		t.Errorf("failed create left a container: %v", err)
	}

	unknown := []struct {
		name string
		do   func() error
	}{
		{"start", func() error { return r.Start(ctx, "nope") }},
		{"state", func() error { _, err := r.State(ctx, "nope"); return err }},
		{"kill", func() error { return r.Kill(ctx, "nope", syscall.SIGTERM, false) }},
		{"delete", func() error { return r.Delete(ctx, "nope", false) }},
	}
	for _, tt := range unknown {
		if err := tt.do(); !errors.Is(err, ociruntime.ErrNotFound) || !strings.Contains(err.Error(), " nope: ") {
			t.Errorf("%s of an unknown container: %v, want ErrNotFound naming it", tt.name, err)
		}
	}

	// As runc does, a forced delete of what does not exist succeeds.
	if err := r.Delete(ctx, "nope", true); err != nil {
		t.Errorf("forced delete of an unknown container: %v", err)
	}

	// A second start of a running container.
	if err := r.Start(ctx, "dup"); err == nil {
		t.Error("second Start succeeded")
	}
}

// TestRuncTerminal: a container whose process has a terminal gets it
// through the console socket; the runtime's stdio is not used.
func TestRuncTerminal(t *testing.T) {
	r := newTestRunc(t)
	ctx := context.Background()
	bundle := runcBundle(t, "out:on the console", "exit:0")
	spec := runcTestSpec([]string{"out:on the console", "exit:0"})
	spec.Process.Terminal = true
	data, _ := json.Marshal(spec)
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "console.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	master := make(chan *os.File, 1)
	go func() { master <- receiveFd(ln) }()
	var stdout syncBuffer
	pidFile := filepath.Join(t.TempDir(), "pid")
	err = r.Create(ctx, "tty", ociruntime.CreateOpts{Bundle: bundle, PidFile: pidFile,
		IO: ociruntime.IO{Stdout: &stdout, Terminal: true, ConsoleSocket: sock}})
	if err != nil {
		t.Fatal(err)
	}
	m := <-master
	if m == nil {
		t.Fatal("no pseudo-terminal master received")
	}
	defer m.Close()
	if err := r.Start(ctx, "tty"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(m).ReadString('\n')
	if line != "on the console\r\n" || err != nil {
		t.Errorf("read %q, %v", line, err)
	}
	if ws := waitPid(t, readPidFile(t, pidFile)); ws.ExitStatus() != 0 {
		t.Errorf("exit status %#x", ws)
	}
	if err := r.Delete(ctx, "tty", false); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "" {
		t.Errorf("stdout got %q", stdout.String())
	}
}

// TestRuncLeavesNoTempFiles: runc's log and an exec's process file have no
// name in the temporary directory while runc runs (it opens them through
// /proc), so a caller killed or exec'd meanwhile (the monitor's
// hand-over) leaves nothing behind; runc's errors are still read back.
func TestRuncLeavesNoTempFiles(t *testing.T) {
	r := newTestRunc(t) // (builds the container's program first)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx := context.Background()
	runcRun(t, r, "tmp", true, "sleep:60")
	left := func() []string {
		entries, err := os.ReadDir(tmp)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	done := make(chan error, 1)
	var stdout bytes.Buffer
	go func() {
		code, err := r.Exec(ctx, "tmp", ociruntime.ExecOpts{
			Process: &specs.Process{Args: []string{"/prog", "sleep:1", "out:done"}, Cwd: "/", Env: []string{"PATH=/"}},
			IO:      ociruntime.IO{Stdout: &stdout},
		})
		if err == nil && code != 0 {
			err = fmt.Errorf("exit %d", code)
		}
		done <- err
	}()
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil || stdout.String() != "done\n" {
				t.Fatalf("exec: %v, %q", err, stdout.String())
			}
			running = false
		case <-time.After(20 * time.Millisecond):
		}
		if names := left(); len(names) != 0 {
			t.Fatalf("in the temporary directory while runc exec runs: %v", names)
		}
	}
	_, err := r.State(ctx, "nope")
	if !errors.Is(err, ociruntime.ErrNotFound) || testRuntimeBinary() == "runc" && !strings.Contains(err.Error(), "container does not exist") {
		t.Errorf("runc's error was not read back: %v", err)
	}
	if names := left(); len(names) != 0 {
		t.Errorf("left in the temporary directory: %v", names)
	}
}

// TestRuncDirect: with runc 1.1, start, state, pause, resume, kill of the
// init and the delete of a stopped container are done from runc's state
// directory
// (runcstate) — a wrapper that logs its calls sees only the create and
// one --version — with the same outcomes; kill --all is runc's.
func TestRuncDirect(t *testing.T) {
	base := newTestRunc(t)
	if testRuntimeBinary() != "runc" {
		t.Skip("runcstate reads runc 1.1's state only; this run drives " + testRuntimeBinary())
	}
	realRunc, err := exec.LookPath("runc")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	wrapper := filepath.Join(dir, "runc")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\necho \"$*\" >>"+calls+"\nexec "+realRunc+" \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ran := func() string {
		data, _ := os.ReadFile(calls)
		var cmds []string
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			for _, w := range []string{"--version", "create", "start", "state", "kill", "delete"} {
				if strings.Contains(" "+l+" ", " "+w+" ") {
					cmds = append(cmds, w)
					break
				}
			}
		}
		os.Remove(calls)
		return strings.Join(cmds, " ")
	}
	r := New(wrapper, base.root, base.log)
	ctx := context.Background()
	c := runcRun(t, r, "direct", false, "out:started", "sleep:60")
	if got := ran(); got != "create" {
		t.Errorf("create ran %q", got)
	}
	wantStatus(t, r, "direct", specs.StateCreated)
	if err := r.Start(ctx, "direct"); err != nil {
		t.Fatal(err)
	}
	if line := c.line(t); line != "started" {
		t.Fatalf("output %q", line)
	}
	st := wantStatus(t, r, "direct", specs.StateRunning)
	if st.Pid != c.pid || st.ID != "direct" {
		t.Errorf("state %+v, pid %d", st, c.pid)
	}
	if err := r.Pause(ctx, "direct"); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, r, "direct", "paused") // runc says it
	if err := r.Resume(ctx, "direct"); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, r, "direct", specs.StateRunning)
	if err := r.Kill(ctx, "direct", syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	if ws := waitPid(t, c.pid); ws.Signal() != syscall.SIGKILL {
		t.Errorf("exit %v, want SIGKILL", ws)
	}
	wantStatus(t, r, "direct", specs.StateStopped)
	if err := r.Delete(ctx, "direct", true); err != nil {
		t.Fatal(err)
	}
	if got := ran(); got != "--version state" {
		t.Errorf("start, state, pause, resume, kill, delete ran %q, want only the one --version and the state of the paused container", got)
	}
	if _, err := r.State(ctx, "direct"); !errors.Is(err, ociruntime.ErrNotFound) {
		t.Errorf("state after delete: %v", err)
	}

	// kill --all, and a forced delete of a running container, are runc's.
	c = runcRun(t, r, "direct2", true, "sleep:60")
	ran()
	if err := r.Kill(ctx, "direct2", syscall.SIGCONT, true); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, "direct2", true); err != nil {
		t.Fatal(err)
	}
	waitPid(t, c.pid)
	if got := ran(); got != "kill delete" {
		t.Errorf("kill --all and a forced delete of a running container ran %q", got)
	}
}

// TestUnlinkedTemp: the file has no name in the temporary directory, and
// another open of the returned path (as the runtime's) reads what this
// process wrote and writes what it then reads.
func TestUnlinkedTemp(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	f, path, err := unlinkedTemp("stockade-runc-log-*.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("from this process\n"); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "from this process\n" {
		t.Fatalf("read %s: %q, %v", path, got, err)
	}
	other, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	other.WriteString("from the runtime\n")
	other.Close()
	got, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<20))
	if err != nil || string(got) != "from this process\nfrom the runtime\n" {
		t.Errorf("read back: %q, %v", got, err)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("left in the temporary directory: %v", ents)
	}
}
