package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/jail"
	"github.com/stockade/stockade/ociruntime"
)

// fakeRuntime records the calls made to it.
type fakeRuntime struct {
	calls  []string
	create ociruntime.CreateOpts
	exec   ociruntime.ExecOpts
	state  specs.State
	list   []specs.State
	code   int
	err    error
}

func (f *fakeRuntime) record(format string, args ...any) error {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	return f.err
}

func (f *fakeRuntime) Create(_ context.Context, id string, opts ociruntime.CreateOpts) error {
	f.create = opts
	return f.record("create %s", id)
}

func (f *fakeRuntime) Start(_ context.Context, id string) error { return f.record("start %s", id) }

func (f *fakeRuntime) State(_ context.Context, id string) (specs.State, error) {
	return f.state, f.record("state %s", id)
}

func (f *fakeRuntime) Kill(_ context.Context, id string, sig syscall.Signal, all bool) error {
	return f.record("kill %s %d %v", id, sig, all)
}

func (f *fakeRuntime) Delete(_ context.Context, id string, force bool) error {
	return f.record("delete %s %v", id, force)
}

func (f *fakeRuntime) Exec(_ context.Context, id string, opts ociruntime.ExecOpts) (int, error) {
	f.exec = opts
	return f.code, f.record("exec %s", id)
}

func (f *fakeRuntime) List(context.Context) ([]specs.State, error) { return f.list, f.record("list") }

func TestDispatch(t *testing.T) {
	bundle := t.TempDir()
	config := `{"ociVersion":"1.0.2","process":{"args":["/prog"],"env":["PATH=/bin"],"cwd":"/work","terminal":true}}`
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	procFile := filepath.Join(t.TempDir(), "process.json")
	if err := os.WriteFile(procFile, []byte(`{"args":["/x","y"],"cwd":"/"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var wrapped []uintptr // the descriptors --preserve-fds wrapped
	newFile := func(fd uintptr, _ string) *os.File {
		wrapped = append(wrapped, fd)
		return nil
	}
	running := specs.State{Version: "1.0.2", ID: "c1", Status: specs.StateRunning, Pid: 42, Bundle: bundle}
	tests := []struct {
		name      string
		command   string
		args      []string
		fake      fakeRuntime
		wantCalls string
		wantOut   string
		wantErr   string
		check     func(t *testing.T, f *fakeRuntime)
	}{
		{name: "create", command: "create", args: []string{"--bundle", "/b", "--pid-file", "/p", "c1"}, wantCalls: "create c1",
			check: func(t *testing.T, f *fakeRuntime) {
				io := f.create.IO
				if f.create.Bundle != "/b" || f.create.PidFile != "/p" || io.Stdout == nil || io.Stderr == nil || io.Terminal || len(io.ExtraFiles) != 0 {
					t.Errorf("opts %+v", f.create)
				}
			}},
		{name: "create console preserve-fds", command: "create", args: []string{"c1", "/b", "--console-socket", "/s", "--preserve-fds", "2"}, wantCalls: "create c1",
			check: func(t *testing.T, f *fakeRuntime) {
				io := f.create.IO
				if !io.Terminal || io.ConsoleSocket != "/s" || len(io.ExtraFiles) != 2 || fmt.Sprint(wrapped) != "[3 4]" {
					t.Errorf("io %+v, descriptors %v", io, wrapped)
				}
			}},
		{name: "start", command: "start", args: []string{"c1"}, wantCalls: "start c1"},
		{name: "state", command: "state", args: []string{"c1"}, fake: fakeRuntime{state: running}, wantCalls: "state c1",
			wantOut: "{\n  \"ociVersion\": \"1.0.2\",\n  \"id\": \"c1\",\n  \"status\": \"running\",\n  \"pid\": 42,\n  \"bundle\": \"" + bundle + "\"\n}\n"},
		{name: "kill", command: "kill", args: []string{"--all", "c1", "KILL"}, wantCalls: "kill c1 9 true"},
		{name: "kill default", command: "kill", args: []string{"c1"}, wantCalls: "kill c1 15 false"},
		{name: "delete", command: "delete", args: []string{"-f", "c1"}, wantCalls: "delete c1 true"},
		{name: "pause without a freezer", command: "pause", args: []string{"c1"}, wantErr: "pause c1: this runtime cannot freeze a container"},
		{name: "runtime error", command: "delete", args: []string{"c1"}, fake: fakeRuntime{err: ociruntime.ErrRunning},
			wantCalls: "delete c1 false", wantErr: "container is running"},
		{name: "exec process file", command: "exec", args: []string{"-p", procFile, "-d", "--pid-file", "/pid", "c1"}, wantCalls: "exec c1",
			check: func(t *testing.T, f *fakeRuntime) {
				p := f.exec.Process
				if !f.exec.Detach || f.exec.PidFile != "/pid" || strings.Join(p.Args, " ") != "/x y" || p.Terminal {
					t.Errorf("opts %+v, process %+v", f.exec, p)
				}
			}},
		{name: "exec command from bundle", command: "exec", args: []string{"-e", "A=1", "c1", "ls", "-l"}, fake: fakeRuntime{state: running},
			wantCalls: "state c1,exec c1",
			check: func(t *testing.T, f *fakeRuntime) {
				p := f.exec.Process
				if strings.Join(p.Args, " ") != "ls -l" || strings.Join(p.Env, " ") != "PATH=/bin A=1" || p.Cwd != "/work" || p.Terminal || f.exec.IO.Terminal {
					t.Errorf("process %+v", p)
				}
			}},
		{name: "exec tty cwd", command: "exec", args: []string{"-t", "--console-socket", "/s", "--cwd", "/tmp", "-p", procFile, "c1"}, wantCalls: "exec c1",
			check: func(t *testing.T, f *fakeRuntime) {
				if !f.exec.Process.Terminal || !f.exec.IO.Terminal || f.exec.IO.ConsoleSocket != "/s" || f.exec.Process.Cwd != "/tmp" {
					t.Errorf("opts %+v, process %+v", f.exec, f.exec.Process)
				}
			}},
		{name: "exec exit status", command: "exec", args: []string{"-p", procFile, "c1"}, fake: fakeRuntime{code: 3}, wantCalls: "exec c1", wantErr: "exit status 3"},
		{name: "exec detached ignores status", command: "exec", args: []string{"-d", "-p", procFile, "c1"}, fake: fakeRuntime{code: 3}, wantCalls: "exec c1"},
		{name: "exec missing process file", command: "exec", args: []string{"-p", "/nonexistent.json", "c1"},
			wantErr: "exec c1: process file: open /nonexistent.json: no such file or directory"},
		{name: "exec unknown container", command: "exec", args: []string{"c1", "ls"}, fake: fakeRuntime{err: ociruntime.ErrNotFound},
			wantCalls: "state c1", wantErr: "exec c1: container not found"},
		{name: "list table", command: "list", fake: fakeRuntime{list: []specs.State{running, {ID: "c2", Status: specs.StateStopped, Bundle: "/b2"}}},
			wantCalls: "list", wantOut: "ID   PID   STATUS    BUNDLE\nc1   42    running   " + bundle + "\nc2   0     stopped   /b2\n"},
		{name: "list json", command: "list", args: []string{"--format", "json"}, fake: fakeRuntime{list: []specs.State{{ID: "c2", Status: specs.StateStopped}}},
			wantCalls: "list", wantOut: `[{"ociVersion":"","id":"c2","status":"stopped","bundle":""}]` + "\n"},
		{name: "list json empty", command: "list", args: []string{"--format", "json"}, wantCalls: "list", wantOut: "[]\n"},
		{name: "list quiet", command: "list", args: []string{"-q"}, fake: fakeRuntime{list: []specs.State{running}}, wantCalls: "list", wantOut: "c1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			r := &rt{stdout: &out, stderr: &out, stdin: strings.NewReader(""), newFile: newFile}
			inv, err := parseInvocation(tt.command, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			f := tt.fake
			err = r.dispatch(context.Background(), &f, inv)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("error %v, want %s", err, tt.wantErr)
				}
			} else if err != nil {
				t.Errorf("error %v", err)
			}
			if got := strings.Join(f.calls, ","); got != tt.wantCalls {
				t.Errorf("calls %q, want %q", got, tt.wantCalls)
			}
			if out.String() != tt.wantOut {
				t.Errorf("output\n%s\nwant\n%s", out.String(), tt.wantOut)
			}
			if tt.check != nil {
				tt.check(t, &f)
			}
		})
	}
}

// pausingRuntime is fakeRuntime with a freezer (ociruntime.Pauser).
type pausingRuntime struct{ fakeRuntime }

func (p *pausingRuntime) Pause(_ context.Context, id string) error  { return p.record("pause %s", id) }
func (p *pausingRuntime) Resume(_ context.Context, id string) error { return p.record("resume %s", id) }

// TestDispatchPause: pause and resume reach a runtime's freezer.
func TestDispatchPause(t *testing.T) {
	r := &rt{stdout: io.Discard, stderr: io.Discard, stdin: strings.NewReader("")}
	var p pausingRuntime
	for _, cmd := range []string{"pause", "resume"} {
		inv, err := parseInvocation(cmd, []string{"c1"})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.dispatch(context.Background(), &p, inv); err != nil {
			t.Errorf("%s: %v", cmd, err)
		}
	}
	if got := strings.Join(p.calls, ","); got != "pause c1,resume c1" {
		t.Errorf("calls %q", got)
	}
	if _, err := parseInvocation("pause", nil); err == nil || !strings.Contains(err.Error(), "missing container id") {
		t.Errorf("pause without an id: %v", err)
	}
}

// exitStatus errors become the exit code, without a message.
func TestExitStatusPassthrough(t *testing.T) {
	var status exitStatus
	if !errors.As(fmt.Errorf("x: %w", exitStatus(7)), &status) || status != 7 {
		t.Fatal("exitStatus not found")
	}
}

func TestContainerCommandErrors(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"create"}, "stockade-runtime: create: missing container id (usage: create ID [BUNDLE])"},
		{[]string{"kill", "c1", "SIGNOPE"}, `stockade-runtime: kill: unknown signal "SIGNOPE"`},
		{[]string{"ext", "exec", "c1"}, `stockade-runtime: exec: 1 arguments ["c1"], want ID COMMAND [ARG...], or --process F ID (usage: exec --process F [--detach] [--tty] [--console-socket S] [--pid-file F] ID  |  [flags] ID COMMAND [ARG...])`},
		{[]string{"delete", "--bogus", "c1"}, "stockade-runtime: delete: flag provided but not defined: -bogus"},
		{[]string{"list", "--format", "xml"}, `stockade-runtime: list: --format "xml" is not one of table, json`},
	}
	for _, tt := range tests {
		code, _, stderr := runRT(t, append([]string{"--root", t.TempDir()}, tt.args...)...)
		if code != 1 || stderr != tt.wantErr+"\n" {
			t.Errorf("%q: exit %d, stderr\n %q\nwant\n %q", tt.args, code, stderr, tt.wantErr+"\n")
		}
	}
}

func TestContainerCommandHelp(t *testing.T) {
	for _, args := range [][]string{{"create", "--help"}, {"extension", "exec", "-h"}, {"ext", "exec", "--help"}, {"kill", "c1", "-h"}} {
		code, out, stderr := runRT(t, args...)
		name := args[0]
		if name != "create" && name != "kill" {
			name = "exec"
		}
		if code != 0 || !strings.HasPrefix(out, "Usage: stockade-runtime [global flags] "+name+" ") || stderr != "" {
			t.Errorf("%q: exit %d, %q, %q", args, code, out, stderr)
		}
	}
}

// TestKillPid is runj's shim signalling an exec'd process: a real child
// of this test gets the signal, and a stopped container is refused.
func TestKillPid(t *testing.T) {
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()
	f := fakeRuntime{state: specs.State{Status: specs.StateRunning}}
	r := &rt{}
	inv := &invocation{Command: "kill", ID: "c1", Signal: syscall.SIGTERM, Pid: child.Process.Pid}
	if err := r.dispatch(context.Background(), &f, inv); err != nil {
		t.Fatal(err)
	}
	err := child.Wait()
	if ws, ok := child.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("child ended with %v, want SIGTERM", err)
	}
	if len(f.calls) != 1 || f.calls[0] != "state c1" {
		t.Errorf("calls %q: --pid must check the container and not kill it", f.calls)
	}
	f = fakeRuntime{state: specs.State{Status: specs.StateStopped}}
	if err := r.dispatch(context.Background(), &f, inv); !errors.Is(err, ociruntime.ErrNotRunning) {
		t.Errorf("stopped container: %v", err)
	}
}

// The jail runtime has the extensions dispatch looks for.
var (
	_ inPlaceExecer = (*jail.Runtime)(nil)
	_ processKiller = (*jail.Runtime)(nil)
)

// fakeJailRuntime is a runtime with the jail runtime's extensions: exec in
// place and kill --pid checked by the runtime.
type fakeJailRuntime struct {
	fakeRuntime
}

var errReplaced = errors.New("the fake replaced no process")

func (f *fakeJailRuntime) ExecInPlace(_ context.Context, id string, opts ociruntime.ExecOpts) error {
	f.exec = opts
	f.record("exec-in-place %s", id)
	return errReplaced
}

func (f *fakeJailRuntime) KillProcess(_ context.Context, id string, pid int, sig syscall.Signal) error {
	return f.record("kill-process %s %d %d", id, pid, sig)
}

// stdFiles are descriptors 0, 1 and 2 as files, which os.Stdin, os.Stdout
// and os.Stderr are not always in a test: under `go test -json` (as
// gotestsum runs it) os.Stderr is another descriptor. Package variables,
// so that no finalizer ever closes the process's standard descriptors.
var stdFiles = [3]*os.File{os.NewFile(0, "stdin"), os.NewFile(1, "stdout"), os.NewFile(2, "stderr")}

// runj's shim runs `ext exec` and takes that process's pid for the exec's:
// with the jail runtime, a non-detached exec from a shim (own standard
// streams, not a process group leader) replaces the runtime's process, so
// the pid is the program's. Detached, with other streams, or as a group
// leader (setsid would fail), it runs as a child.
func TestExecInPlace(t *testing.T) {
	procFile := filepath.Join(t.TempDir(), "process.json")
	if err := os.WriteFile(procFile, []byte(`{"args":["/x"],"cwd":"/"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	notLeader := func() int { return os.Getpid() + 1 }
	leader := func() int { return os.Getpid() }
	for _, tc := range []struct {
		name      string
		args      []string
		own       bool // the process's own standard streams
		getpgrp   func() int
		wantCalls string
		wantErr   error
	}{
		{"shim", []string{"-p", procFile, "--pid-file", "/pid", "c1"}, true, notLeader, "exec-in-place c1", errReplaced},
		{"detached", []string{"-d", "-p", procFile, "c1"}, true, notLeader, "exec c1", nil},
		{"buffers", []string{"-p", procFile, "c1"}, false, notLeader, "exec c1", nil},
		{"group leader", []string{"-p", procFile, "c1"}, true, leader, "exec c1", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &rt{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, getpgrp: tc.getpgrp}
			if tc.own {
				r.stdin, r.stdout, r.stderr = stdFiles[0], stdFiles[1], stdFiles[2]
			}
			inv, err := parseInvocation("exec", tc.args)
			if err != nil {
				t.Fatal(err)
			}
			f := &fakeJailRuntime{}
			err = r.dispatch(context.Background(), f, inv)
			if !errors.Is(err, tc.wantErr) && (err != nil || tc.wantErr != nil) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			if got := strings.Join(f.calls, ","); got != tc.wantCalls {
				t.Errorf("calls %q, want %q", got, tc.wantCalls)
			}
			if tc.name == "shim" && (f.exec.PidFile != "/pid" || strings.Join(f.exec.Process.Args, " ") != "/x") {
				t.Errorf("opts %+v", f.exec)
			}
		})
	}
}

// kill --pid goes to a runtime that checks the pid itself (the jail
// runtime), which signals it; nothing is signalled here.
func TestKillPidChecked(t *testing.T) {
	f := &fakeJailRuntime{}
	inv := &invocation{Command: "kill", ID: "c1", Signal: syscall.SIGTERM, Pid: 4242}
	if err := (&rt{}).dispatch(context.Background(), f, inv); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.calls, ","); got != "kill-process c1 4242 15" {
		t.Errorf("calls %q", got)
	}
}
