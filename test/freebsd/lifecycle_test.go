//go:build freebsd

package freebsd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

// TestLifecycle takes a container through create, start, exec, kill and
// delete, and checks its mounts and devices on the way.
func TestLifecycle(t *testing.T) {
	e := setup(t)
	id := newID(t)
	b := e.bundle(t, nil)
	e.create(t, id, b)
	if st := e.state(t, id); st.Status != specs.StateCreated || st.Pid <= 0 || st.Annotations["org.freebsd.jail.jid"] == "" || st.Bundle != b {
		t.Fatalf("after create: %+v", st)
	}
	if r := e.run(t, "exec", id, "/usr/bin/true"); r.err == nil {
		t.Errorf("exec in a created container worked:\n%v", r)
	}
	e.must(t, "start", id)
	if st := e.state(t, id); st.Status != specs.StateRunning {
		t.Fatalf("after start: %+v", st)
	}
	if r := e.run(t, "start", id); r.err == nil {
		t.Errorf("second start worked:\n%v", r)
	}
	if out := e.exec(t, id, "/bin/hostname"); strings.TrimSpace(out) != "it" {
		t.Errorf("hostname %q, want it", out)
	}
	if out := e.exec(t, id, "/bin/ls", "/dev"); !slices.Contains(strings.Fields(out), "pf") || !slices.Contains(strings.Fields(out), "null") {
		t.Errorf("/dev lacks pf or null: %q", out)
	}
	if out := e.exec(t, id, "/bin/ls", "/dev/fd"); !slices.Contains(strings.Fields(out), "0") {
		t.Errorf("fdescfs /dev/fd: %q", out)
	}
	if out := e.exec(t, id, "/bin/ls", "/mnt"); !strings.Contains(out, "config.json") {
		t.Errorf("nullfs /mnt: %q", out)
	}
	if r := e.run(t, "exec", id, "/usr/bin/touch", "/mnt/x"); r.err == nil {
		t.Errorf("the read-only nullfs /mnt is writable:\n%v", r)
	}
	if r := e.run(t, "exec", id, "/bin/sh", "-c", "exit 7"); r.exitCode() != 7 {
		t.Errorf("exec of exit 7: exit code %d, want 7:\n%v", r.exitCode(), r)
	}
	if r := e.run(t, "delete", id); r.err == nil {
		t.Fatalf("delete without --force of a running container worked:\n%v", r)
	}
	if st := e.state(t, id); st.Status != specs.StateRunning {
		t.Fatalf("after a refused delete: %+v", st)
	}
	e.must(t, "kill", id, "KILL")
	e.waitStatus(t, id, specs.StateStopped, 10*time.Second)
	e.must(t, "delete", id)
	e.assertGone(t, id)
}

// TestPidFile checks create --pid-file and exec --detach --pid-file: the
// pid is the state's, alive, in the container's jail, and the container's
// program once started.
func TestPidFile(t *testing.T) {
	e := setup(t)
	id := newID(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	e.create(t, id, e.bundle(t, nil), "--pid-file", pidFile)
	pid := readPid(t, pidFile)
	st := e.state(t, id)
	if st.Pid != pid {
		t.Errorf("pid file %d, state %d", pid, st.Pid)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("kill -0 %d: %v", pid, err)
	}
	jid := strconv.Itoa(e.jid(t, id))
	if got := strings.TrimSpace(host(t, "ps", "-o", "jid=", "-p", strconv.Itoa(pid))); got != jid {
		t.Errorf("process %d is in jail %q, want %s", pid, got, jid)
	}
	e.must(t, "start", id)
	eventually(t, 5*time.Second, "the pid runs sleep", func() (bool, string) {
		comm := strings.TrimSpace(command(t, "ps", "-o", "comm=", "-p", strconv.Itoa(pid)).stdout)
		return comm == "sleep", "ps says " + strconv.Quote(comm)
	})
	if st := e.state(t, id); st.Pid != pid {
		t.Errorf("after start the state's pid is %d, want %d", st.Pid, pid)
	}

	execPidFile := filepath.Join(t.TempDir(), "exec-pid")
	e.must(t, "exec", "--detach", "--pid-file", execPidFile, id, "/bin/sleep", "60")
	execPid := readPid(t, execPidFile)
	if execPid == pid {
		t.Errorf("the exec'd process has the container's pid %d", pid)
	}
	if got := strings.TrimSpace(host(t, "ps", "-o", "jid=", "-p", strconv.Itoa(execPid))); got != jid {
		t.Errorf("exec'd process %d is in jail %q, want %s", execPid, got, jid)
	}
}

func readPid(t *testing.T, file string) int {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		t.Fatalf("pid file %s holds %q", file, data)
	}
	return pid
}

// TestKill checks that kill ends the container: a signal to its process,
// and with --all to every process of its jail.
func TestKill(t *testing.T) {
	e := setup(t)
	tests := []struct {
		name   string
		script string
		start  bool
		args   []string // kill's arguments around the id
		signal string
		procs  int // processes in the jail before the kill
	}{
		{name: "TERM", script: "exec sleep 300", start: true, signal: "TERM", procs: 1},
		{name: "all", script: "sleep 300 & sleep 300 & wait", start: true, args: []string{"--all"}, signal: "KILL", procs: 3},
		{name: "created", script: "exec sleep 300", signal: "KILL", procs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := newID(t)
			e.create(t, id, e.bundle(t, func(s *specs.Spec) { s.Process = shProcess(tt.script) }))
			jid := e.jid(t, id)
			if tt.start {
				e.must(t, "start", id)
			}
			eventually(t, 5*time.Second, "processes in the jail", func() (bool, string) {
				procs := jailProcesses(t, jid)
				return len(procs) == tt.procs, strings.Join(procs, " ")
			})
			e.must(t, append(append([]string{"kill"}, tt.args...), id, tt.signal)...)
			eventually(t, 10*time.Second, "the jail empty", func() (bool, string) {
				procs := jailProcesses(t, jid)
				return len(procs) == 0, "processes " + strings.Join(procs, " ")
			})
			e.waitStatus(t, id, specs.StateStopped, 5*time.Second)
			if r := e.run(t, "kill", id, "TERM"); r.err == nil {
				t.Errorf("kill of a stopped container worked:\n%v", r)
			}
			e.must(t, "delete", id)
			e.assertGone(t, id)
		})
	}
}

// TestList checks list --format json and the table: the container with
// its status as it changes.
func TestList(t *testing.T) {
	e := setup(t)
	id := newID(t)
	b := e.bundle(t, nil)
	e.create(t, id, b)
	list := func() map[string]specs.State {
		t.Helper()
		out := e.must(t, "list", "--format", "json")
		var states []specs.State
		if err := json.Unmarshal([]byte(out), &states); err != nil {
			t.Fatalf("list --format json: %v\n%s", err, out)
		}
		m := map[string]specs.State{}
		for _, st := range states {
			m[st.ID] = st
		}
		return m
	}
	for _, step := range []struct {
		do   []string
		want specs.ContainerState
	}{
		{nil, specs.StateCreated},
		{[]string{"start", id}, specs.StateRunning},
	} {
		if step.do != nil {
			e.must(t, step.do...)
		}
		st, ok := list()[id]
		if !ok || st.Status != step.want || st.Bundle != b || st.Pid <= 0 {
			t.Errorf("list after %v: %s is %+v (listed: %v), want %s", step.do, id, st, ok, step.want)
		}
		if out := e.must(t, "list"); !strings.Contains(out, id) || !strings.Contains(out, string(step.want)) {
			t.Errorf("list table lacks %s %s:\n%s", id, step.want, out)
		}
	}
	e.must(t, "delete", "--force", id)
	if _, ok := list()[id]; ok {
		t.Errorf("%s still listed after delete", id)
	}
}

// TestFeatures checks that features prints the runtime's features as
// JSON.
func TestFeatures(t *testing.T) {
	e := setup(t)
	out := e.must(t, "features")
	var f features.Features
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatalf("features: %v\n%s", err, out)
	}
	if f.OCIVersionMin == "" || f.OCIVersionMax != specs.Version {
		t.Errorf("features: OCI versions %q to %q, want up to %s", f.OCIVersionMin, f.OCIVersionMax, specs.Version)
	}
	for _, h := range []string{"createRuntime", "poststop"} {
		if !slices.Contains(f.Hooks, h) {
			t.Errorf("features: hooks %v lack %s", f.Hooks, h)
		}
	}
}

// TestFailedCreateLeavesNothing makes create fail at several points and
// checks that it released what it had made: mounts, jail, address alias,
// rctl rules, state.
func TestFailedCreateLeavesNothing(t *testing.T) {
	e := setup(t)
	const alias = "127.0.0.43"
	if hasInet(host(t, "ifconfig", "lo0"), alias) {
		t.Fatalf("%s is on lo0 already; remove it first", alias)
	}
	racct := racctEnabled()
	tests := []struct {
		name    string
		edit    func(*specs.Spec)
		wantErr string
	}{
		{
			name: "missing mount source",
			edit: func(s *specs.Spec) {
				// After devfs and fdescfs, which must be unmounted again.
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/missing", Type: "nullfs", Source: "/nonexistent/stockade-it"})
			},
			wantErr: "/missing",
		},
		{
			name: "createRuntime hook fails",
			edit: func(s *specs.Spec) {
				// Fails after the jail, the alias and the rctl rule are made.
				s.FreeBSD.Jail.Ip4 = ""
				s.FreeBSD.Jail.Ip4Addr = []string{alias}
				s.FreeBSD.Jail.Interface = "lo0"
				if racct {
					s.Annotations["org.freebsd.rctl.maxproc"] = "deny=50"
				}
				s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/usr/bin/false"}}}
			},
			wantErr: "createRuntime",
		},
		{
			name: "program not found",
			edit: func(s *specs.Spec) {
				// Fails in the init helper, inside the jail.
				s.Process.Args = []string{"/nonexistent/program"}
			},
			wantErr: "/nonexistent/program",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := newID(t)
			e.cleanup(t, id)
			r := e.run(t, "create", "--bundle", e.bundle(t, tt.edit), id)
			if r.err == nil {
				t.Fatalf("create worked:\n%v", r)
			}
			if !strings.Contains(r.stderr, tt.wantErr) {
				t.Errorf("create's error does not mention %q:\n%v", tt.wantErr, r)
			}
			e.assertGone(t, id)
			if hasInet(host(t, "ifconfig", "lo0"), alias) {
				t.Errorf("alias %s left on lo0", alias)
			}
			if racct {
				if out := host(t, "rctl"); strings.Contains(out, "jail:"+id+":") {
					t.Errorf("rctl rules left:\n%s", out)
				}
			}
		})
	}
}
