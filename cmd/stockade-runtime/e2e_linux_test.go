package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
)

var e2eBuild struct {
	once            sync.Once
	dir, bin, prog  string
	err             error
	subreaperFailed error
}

// e2eBinaries builds stockade-runtime and the container test program
// (../../linux/runc/testdata/ctrprog) once, with CGO_ENABLED=0, and makes this
// test process a child subreaper (as containerd's shim is), so that the
// containers' processes become its children and their exit statuses can
// be waited for.
func e2eBinaries(t *testing.T) (bin, prog string) {
	t.Helper()
	testenv.RequireRoot(t, "running containers")
	testenv.RequireCommand(t, "runc")
	b := &e2eBuild
	b.once.Do(func() {
		b.dir, b.err = os.MkdirTemp("", "stockade-runtime-e2e-")
		if b.err != nil {
			return
		}
		b.bin = filepath.Join(b.dir, "stockade-runtime")
		b.prog = filepath.Join(b.dir, "prog")
		goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goBin); err != nil {
			goBin = "go"
		}
		for _, build := range [][]string{{b.bin, "."}, {b.prog, "../../linux/runc/testdata/ctrprog"}} {
			cmd := exec.Command(goBin, "build", "-o", build[0], build[1])
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
			if out, err := cmd.CombinedOutput(); err != nil {
				b.err = fmt.Errorf("go build %s: %v\n%s", build[1], err, out)
				return
			}
		}
		b.subreaperFailed = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	if b.subreaperFailed != nil {
		t.Fatalf("PR_SET_CHILD_SUBREAPER: %v", b.subreaperFailed)
	}
	return b.bin, b.prog
}

// TestMain removes what e2eBinaries built.
func TestMain(m *testing.M) {
	code := m.Run()
	if e2eBuild.dir != "" {
		os.RemoveAll(e2eBuild.dir)
	}
	os.Exit(code)
}

// e2eBundle makes a bundle running the test program with the given steps
// in new pid, mount, ipc, uts and network namespaces.
func e2eBundle(t *testing.T, prog string, steps ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(prog)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rootfs", "prog"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	spec := specs.Spec{
		Version: "1.0.2",
		Process: &specs.Process{
			Args: append([]string{"/prog"}, steps...), Env: []string{"PATH=/"}, Cwd: "/", NoNewPrivileges: true,
			Capabilities: &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps},
		},
		Root:     &specs.Root{Path: "rootfs"},
		Hostname: "e2e",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.NetworkNamespace},
			},
			Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
		},
	}
	data, err = json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// e2e runs the built stockade-runtime with --root.
type e2e struct {
	t    *testing.T
	bin  string
	root string
}

// run runs stockade-runtime with args, its stdout and stderr going to the
// given file (the container's output, for create) or captured.
func (e *e2e) run(out *os.File, args ...string) (code int, stdout, stderr string) {
	e.t.Helper()
	cmd := exec.Command(e.bin, append([]string{"--root", e.root}, args...)...)
	var so, se bytes.Buffer
	if out != nil {
		cmd.Stdout, cmd.Stderr = out, out
	} else {
		cmd.Stdout, cmd.Stderr = &so, &se
	}
	start := time.Now()
	err := cmd.Run()
	if d := time.Since(start); d > time.Second {
		e.t.Logf("%q took %v", args, d)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), so.String(), se.String()
	}
	if err != nil {
		e.t.Fatalf("%q: %v", args, err)
	}
	return 0, so.String(), se.String()
}

// create runs a create command, the container's stdio being /dev/null:
// a captured stdout would stay open as long as the container runs.
func (e *e2e) create(args ...string) {
	e.t.Helper()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	defer devnull.Close()
	if code, _, _ := e.run(devnull, append([]string{"create"}, args...)...); code != 0 {
		e.t.Fatalf("create %q: exit %d", args, code)
	}
}

// ok runs stockade-runtime and fails the test unless it succeeds.
func (e *e2e) ok(args ...string) string {
	e.t.Helper()
	code, stdout, stderr := e.run(nil, args...)
	if code != 0 {
		e.t.Fatalf("%q: exit %d: %s", args, code, stderr)
	}
	return stdout
}

// state returns the container's state as `state` prints it.
func (e *e2e) state(id string) specs.State {
	e.t.Helper()
	var st specs.State
	out := e.ok("state", id)
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		e.t.Fatalf("state %s printed %q: %v", id, out, err)
	}
	return st
}

// lineReader reads a container's output lines with a timeout.
type lineReader struct {
	t *testing.T
	r *bufio.Reader
}

func (l *lineReader) next() string {
	l.t.Helper()
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() { s, err := l.r.ReadString('\n'); ch <- result{s, err} }()
	select {
	case res := <-ch:
		if res.err != nil {
			l.t.Fatalf("reading the container's output: %v (got %q)", res.err, res.s)
		}
		return strings.TrimSuffix(res.s, "\n")
	case <-time.After(20 * time.Second):
		l.t.Fatal("no output from the container")
	}
	return ""
}

func waitExit(t *testing.T, pid int) syscall.WaitStatus {
	t.Helper()
	ch := make(chan syscall.WaitStatus, 1)
	go func() {
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
		ch <- ws
	}()
	select {
	case ws := <-ch:
		return ws
	case <-time.After(20 * time.Second):
		t.Fatalf("process %d did not end", pid)
	}
	return 0
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// TestEndToEnd drives the built binary through a container's life in
// runc's dialect and runj's, with a real bundle and the real runc.
func TestEndToEnd(t *testing.T) {
	bin, prog := e2eBinaries(t)
	e := &e2e{t: t, bin: bin, root: t.TempDir()}
	t.Cleanup(func() {
		for _, id := range strings.Fields(e.ok("list", "-q")) {
			e.run(nil, "delete", "--force", id)
		}
	})

	// runc's dialect: create --bundle B --pid-file P ID, the container's
	// stdout and stderr being stockade-runtime's.
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer outR.Close()
	bundle := e2eBundle(t, prog, "out:hello", "on-term:42", "out:ready", "sleep:60")
	pidFile := filepath.Join(t.TempDir(), "pid")
	code, _, _ := e.run(outW, "create", "--bundle", bundle, "--pid-file", pidFile, "c1")
	outW.Close()
	if code != 0 {
		t.Fatalf("create: exit %d", code)
	}
	out := &lineReader{t, bufio.NewReader(outR)}
	pid := readPid(t, pidFile)
	if st := e.state("c1"); st.Status != specs.StateCreated || st.Pid != pid || st.Bundle != bundle || st.ID != "c1" {
		t.Errorf("created: %+v", st)
	}
	e.ok("start", "c1")
	if l1, l2 := out.next(), out.next(); l1 != "hello" || l2 != "ready" {
		t.Fatalf("output %q %q", l1, l2)
	}
	if st := e.state("c1"); st.Status != specs.StateRunning {
		t.Errorf("started: %+v", st)
	}

	// exec, in runc's dialect and runj's; the exit code is the process's.
	procFile := filepath.Join(t.TempDir(), "process.json")
	os.WriteFile(procFile, []byte(`{"args":["/prog","out:inexec","exit:5"],"cwd":"/","env":["PATH=/"]}`), 0o644)
	execs := []struct {
		args     []string
		wantCode int
		wantOut  string
	}{
		{[]string{"exec", "--process", procFile, "c1"}, 5, "inexec\n"},
		{[]string{"ext", "exec", "c1", "-p", procFile}, 5, "inexec\n"},
		{[]string{"extension", "exec", "c1", "/prog", "out:via-args"}, 0, "via-args\n"},
		{[]string{"exec", "-e", "X=1", "c1", "/prog", "err:to-stderr", "exit:1"}, 1, ""},
	}
	for _, x := range execs {
		code, stdout, stderr := e.run(nil, x.args...)
		if code != x.wantCode || stdout != x.wantOut {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", x.args, code, stdout, stderr)
		}
	}

	// list, both formats
	if got := e.ok("list"); !regexp.MustCompile(`(?m)^ID +PID +STATUS +BUNDLE\nc1 +` + strconv.Itoa(pid) + ` +running +` + regexp.QuoteMeta(bundle) + `$`).MatchString(got) {
		t.Errorf("list:\n%s", got)
	}
	var list []specs.State
	if err := json.Unmarshal([]byte(e.ok("list", "--format", "json")), &list); err != nil || len(list) != 1 || list[0].ID != "c1" {
		t.Errorf("list --format json: %+v, %v", list, err)
	}

	// pause and resume: runc's freezer, passed through.
	e.ok("pause", "c1")
	if st := e.state("c1"); st.Status != "paused" {
		t.Errorf("after pause: %+v", st)
	}
	e.ok("resume", "c1")
	if st := e.state("c1"); st.Status != specs.StateRunning {
		t.Errorf("after resume: %+v", st)
	}

	// runj's kill ID SIG: the program handles SIGTERM and exits 42.
	e.ok("kill", "c1", "TERM")
	if l := out.next(); l != "got SIGTERM" {
		t.Errorf("after kill: %q", l)
	}
	if ws := waitExit(t, pid); ws.ExitStatus() != 42 {
		t.Errorf("exit status %#x", ws)
	}
	if st := e.state("c1"); st.Status != specs.StateStopped {
		t.Errorf("killed: %+v", st)
	}
	// state is passed through to runc (execPassThrough): what it prints
	// is runc's own state, which has fields stockade's does not.
	if out := e.ok("state", "c1"); !strings.Contains(out, `"rootfs"`) || !strings.Contains(out, `"status": "stopped"`) {
		t.Errorf("state is not runc's own: %s", out)
	}
	// kill of a stopped container: runc's failure, exit 1.
	if code, _, stderr := e.run(nil, "kill", "c1", "KILL"); code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "not running") {
		t.Errorf("kill stopped: exit %d, %q", code, stderr)
	}
	e.ok("delete", "c1")
	if code, _, stderr := e.run(nil, "state", "c1"); code != 1 || stderr != "stockade-runtime: runc state c1: container does not exist\n" {
		t.Errorf("state after delete: exit %d, %q", code, stderr)
	}

	// runj's dialect: create ID BUNDLE with flags after; delete refuses a
	// running container without --force.
	bundle2 := e2eBundle(t, prog, "sleep:60")
	pidFile2 := filepath.Join(t.TempDir(), "pid")
	e.create("c2", bundle2, "--pid-file", pidFile2)
	e.ok("start", "c2")
	// delete is passed through to runc (execPassThrough): its error is
	// runc's own line.
	code, _, stderr := e.run(nil, "delete", "c2")
	if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "cannot delete container c2 that is not stopped: running") {
		t.Errorf("delete running: exit %d, %q", code, stderr)
	}
	e.ok("kill", "--all", "c2", "9")
	if ws := waitExit(t, readPid(t, pidFile2)); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("exit status %#x", ws)
	}
	e.ok("delete", "--force", "c2")
	if got := e.ok("list", "-q"); got != "" {
		t.Errorf("left: %q", got)
	}
}

// TestEndToEndErrors: one line on stderr, exit 1, and with --log FILE
// --log-format json the error object in the file, where containerd's
// shims read it.
func TestEndToEndErrors(t *testing.T) {
	bin, prog := e2eBinaries(t)
	e := &e2e{t: t, bin: bin, root: t.TempDir()}
	bundle := e2eBundle(t, prog, "sleep:60")
	e.create("--bundle", bundle, "dup")
	t.Cleanup(func() { e.run(nil, "delete", "--force", "dup") })

	tests := []struct {
		name    string
		args    []string
		wantMsg string
	}{
		{"duplicate", []string{"create", "--bundle", bundle, "dup"}, "runc create dup: container with given ID already exists"},
		{"unknown", []string{"start", "nope"}, "runc start nope: container does not exist"},
		{"no config", []string{"create", "c3", t.TempDir()}, ""},
		{"missing runtime", []string{"--runc", "no-such-runc", "state", "dup"}, "no-such-runc state dup: runtime no-such-runc: executable file not found in $PATH"},
		// An absolute --runc is executed without a search: when it is
		// missing, the failed exec leaves the error to the runtime.
		{"missing absolute runtime", []string{"--runc", "/nonexistent/runc", "state", "dup"}, "runc state dup: runtime /nonexistent/runc: stat /nonexistent/runc: no such file or directory"},
		{"parse", []string{"kill", "dup", "SIGNOPE"}, `kill: unknown signal "SIGNOPE"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logFile := filepath.Join(t.TempDir(), "log.json")
			args := append([]string{"--log", logFile, "--log-format", "json"}, tt.args...)
			code, stdout, stderr := e.run(nil, args...)
			if code != 1 || stdout != "" {
				t.Fatalf("exit %d, stdout %q", code, stdout)
			}
			data, err := os.ReadFile(logFile)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			var obj struct{ Level, Msg, Time string }
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &obj); err != nil {
				t.Fatalf("last log line is not JSON: %q", data)
			}
			if obj.Level != "error" || obj.Time == "" || strings.Contains(obj.Msg, "\n") {
				t.Errorf("log: %+v", obj)
			}
			if tt.wantMsg != "" && obj.Msg != tt.wantMsg {
				t.Errorf("msg %q\nwant %q", obj.Msg, tt.wantMsg)
			}
			if tt.wantMsg == "" && !strings.Contains(obj.Msg, "config.json") {
				t.Errorf("msg %q does not name config.json", obj.Msg)
			}
			// stderr ends with the same object (--log-format json).
			// A failed create's stderr is the container's, and runc
			// prints its own error there first, as it does under
			// containerd.
			errLines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(errLines) > 1 && (tt.args[0] != "create" || len(errLines) > 2) {
				t.Errorf("stderr has %d lines: %q", len(errLines), stderr)
			}
			var errObj struct{ Level, Msg string }
			if err := json.Unmarshal([]byte(errLines[len(errLines)-1]), &errObj); err != nil || errObj.Msg != obj.Msg {
				t.Errorf("stderr %q", stderr)
			}
		})
	}
}

// TestCreateFailureOnce: runc prints a failed create's error on the stderr
// it shares with the container; in text, stockade-runtime does not print
// the same failure a second time.
func TestCreateFailureOnce(t *testing.T) {
	bin, prog := e2eBinaries(t)
	e := &e2e{t: t, bin: bin, root: t.TempDir()}
	bundle := e2eBundle(t, prog, "sleep:60")
	e.create("--bundle", bundle, "dup")
	t.Cleanup(func() { e.run(nil, "delete", "--force", "dup") })
	code, _, stderr := e.run(nil, "create", "--bundle", bundle, "dup")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	if n := strings.Count(stderr, "\n"); n != 1 || !strings.Contains(stderr, "already exists") {
		t.Errorf("stderr must be the failure once, got %d lines: %q", n, stderr)
	}
}

// TestPassThroughAbsoluteRunc: with --runc (or STOCKADE_RUNC) a path, the
// pass-through commands become that runc itself, and its state is runc's
// own JSON.
func TestPassThroughAbsoluteRunc(t *testing.T) {
	bin, prog := e2eBinaries(t)
	runcPath, err := exec.LookPath("runc")
	if err != nil {
		t.Fatal(err)
	}
	e := &e2e{t: t, bin: bin, root: t.TempDir()}
	e.create("--bundle", e2eBundle(t, prog, "sleep:60"), "abs")
	t.Cleanup(func() { e.run(nil, "delete", "--force", "abs") })
	if out := e.ok("--runc", runcPath, "state", "abs"); !strings.Contains(out, `"rootfs"`) || !strings.Contains(out, `"status": "created"`) {
		t.Errorf("state is not runc's own: %s", out)
	}
	e.ok("--runc", runcPath, "delete", "--force", "abs")
	if code, _, stderr := e.run(nil, "--runc", runcPath, "state", "abs"); code != 1 || stderr != "stockade-runtime: runc state abs: container does not exist\n" {
		t.Errorf("state after delete: exit %d, %q", code, stderr)
	}
}
