package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockade/stockade/linux/runcstate"
)

// TestDirect: state, start, kill and the delete of a stopped container are
// answered from runc's state directory without running runc — a --runc
// wrapper that logs each call sees only the one `--version` — and what
// they print and do is what runc prints and does. A paused container, a
// created one deleted, kill --all and STOCKADE_RUNTIME_DIRECT=0 are left
// to runc.
func TestDirect(t *testing.T) {
	bin, prog := e2eBinaries(t)
	realRunc, err := exec.LookPath("runc")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	callLog := filepath.Join(dir, "calls")
	wrapper := filepath.Join(dir, "runc")
	script := "#!/bin/sh\necho \"$*\" >>" + callLog + "\nexec " + realRunc + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e := &e2e{t: t, bin: bin, root: t.TempDir()}
	t.Cleanup(func() {
		for _, id := range []string{"d1", "d2", "d3"} {
			e.run(nil, "--runc", realRunc, "delete", "--force", id)
		}
	})
	// calls returns the runc commands the wrapper ran since the last call
	// (the words that are not flags of runc's own: --root R --log L ...).
	seen := 0
	calls := func() []string {
		t.Helper()
		data, _ := os.ReadFile(callLog)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(data) == 0 {
			lines = nil
		}
		var cmds []string
		for _, l := range lines[seen:] {
			cmd := l
			for _, w := range []string{"state", "start", "kill", "delete", "pause", "resume", "create", "--version"} {
				if strings.Contains(" "+l+" ", " "+w+" ") {
					cmd = w
					break
				}
			}
			cmds = append(cmds, cmd)
		}
		seen = len(lines)
		return cmds
	}
	// runcState is real runc's own output for id.
	runcState := func(id string) string {
		t.Helper()
		out, err := exec.Command(realRunc, "--root", filepath.Join(e.root, "runc"), "state", id).Output()
		if err != nil {
			t.Fatalf("runc state %s: %v", id, err)
		}
		return string(out)
	}
	same := func(id, want string) {
		t.Helper()
		got := e.ok("--runc", wrapper, "state", id)
		if got != runcState(id) {
			t.Errorf("state of %s:\n%s\nrunc's:\n%s", id, got, runcState(id))
		}
		if !strings.Contains(got, `"status": "`+want+`"`) {
			t.Errorf("state of %s is not %s: %s", id, want, got)
		}
	}
	wantCalls := func(step string, want ...string) {
		t.Helper()
		if got := calls(); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: runc ran %q, want %q", step, got, want)
		}
	}

	out, _ := os.Create(filepath.Join(dir, "out"))
	if c, _, _ := e.run(out, "--runc", wrapper, "create", "--bundle", e2eBundle(t, prog, "on-term:42", "sleep:60"), "d1"); c != 0 {
		data, _ := os.ReadFile(out.Name())
		t.Fatal(c, string(data))
	}
	wantCalls("create", "create")
	same("d1", "created")
	wantCalls("state (created)", "--version") // once, then from the cache
	e.ok("--runc", wrapper, "start", "d1")
	same("d1", "running")
	wantCalls("start, state")
	// What runc refuses is runc's to say: it runs, with its error and exit.
	refused := func(step, want string, args ...string) {
		t.Helper()
		code, _, stderr := e.run(nil, append([]string{"--runc", wrapper}, args...)...)
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("%s: exit %d, %q; want 1 and %q", step, code, stderr, want)
		}
		wantCalls(step, args[0])
	}
	refused("second start", "cannot start an already running container", "start", "d1")
	refused("delete of a running container", "cannot delete container d1 that is not stopped: running", "delete", "d1")

	e.ok("--runc", wrapper, "pause", "d1")
	same("d1", "paused")
	wantCalls("pause, state (paused: runc's to say)", "state")
	refused("second pause", "container not running", "pause", "d1")
	e.ok("--runc", wrapper, "resume", "d1")
	same("d1", "running")
	wantCalls("resume, state")
	refused("resume of a running container", "not paused", "resume", "d1")

	var st struct {
		CgroupPaths map[string]string `json:"cgroup_paths"`
	}
	data, err := os.ReadFile(filepath.Join(e.root, "runc", "d1", "state.json"))
	if err != nil || json.Unmarshal(data, &st) != nil || len(st.CgroupPaths) == 0 {
		t.Fatalf("runc's state.json: %v %s", err, data)
	}
	e.ok("--runc", wrapper, "kill", "d1", "TERM")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(e.ok("--runc", wrapper, "state", "d1"), `"stopped"`) {
		if time.Now().After(deadline) {
			t.Fatal("d1 did not stop on SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	same("d1", "stopped")
	wantCalls("kill, state (stopped)")
	refused("kill of a stopped container", "container not running", "kill", "d1", "9")
	refused("start of a stopped container", "cannot start a container that has stopped", "start", "d1")
	e.ok("--runc", wrapper, "delete", "d1")
	wantCalls("delete")
	if _, err := os.Stat(filepath.Join(e.root, "runc", "d1")); !os.IsNotExist(err) {
		t.Errorf("d1's state directory is still there: %v", err)
	}
	for name, p := range st.CgroupPaths {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("d1's %q cgroup %s is still there: %v", name, p, err)
		}
	}
	if code, _, stderr := e.run(nil, "--runc", wrapper, "state", "d1"); code != 1 || !strings.Contains(stderr, "does not exist") {
		t.Errorf("state after delete: exit %d, %q", code, stderr)
	}
	wantCalls("state of a deleted container", "state") // stockade-runtime's own error path

	// Left to runc: the delete of a created container (runc kills it
	// first), kill --all, and everything when direct is off.
	create := func(id string) {
		t.Helper()
		if c, _, _ := e.run(out, "--runc", wrapper, "create", "--bundle", e2eBundle(t, prog, "sleep:60"), id); c != 0 {
			data, _ := os.ReadFile(out.Name())
			t.Fatal(c, string(data))
		}
		wantCalls("create "+id, "create")
	}
	create("d2")
	t.Setenv(runcstate.DirectEnv, "0")
	same("d2", "created")
	wantCalls("state, direct off", "state")
	os.Unsetenv(runcstate.DirectEnv)
	e.ok("--runc", wrapper, "delete", "d2")
	wantCalls("delete of a created container", "delete")
	create("d3")
	e.ok("--runc", wrapper, "kill", "--all", "d3", "KILL")
	wantCalls("kill --all", "kill")
	for !strings.Contains(e.ok("--runc", wrapper, "state", "d3"), `"stopped"`) {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatal("d3 did not stop on SIGKILL")
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.ok("--runc", wrapper, "delete", "d3")
	wantCalls("state, delete of a stopped container")
	for _, id := range []string{"d2", "d3"} {
		if _, err := os.Stat(filepath.Join(e.root, "runc", id)); !os.IsNotExist(err) {
			t.Errorf("%s's state directory is still there: %v", id, err)
		}
	}
}

// TestPlainProcess: an exec becomes runc only for a process file runc
// takes as stockade-runtime would.
func TestPlainProcess(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, json string
		want       bool
	}{
		{"plain", `{"args":["/bin/true"],"cwd":"/"}`, true},
		{"no cwd (stockade-runtime says /, runc refuses)", `{"args":["/bin/true"]}`, false},
		{"terminal", `{"args":["/bin/sh"],"cwd":"/","terminal":true}`, false},
		{"not json", `{`, false},
	}
	for i, tt := range tests {
		path := filepath.Join(dir, fmt.Sprint(i))
		if err := os.WriteFile(path, []byte(tt.json), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := plainProcess(path); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	if plainProcess(filepath.Join(dir, "missing")) {
		t.Error("a missing file is plain")
	}
}
