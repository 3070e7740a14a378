package runcstate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runc 1.1.5's state.json of a created container, cut to what matters
// and a little more (unknown fields are ignored).
const sampleState = `{"id":"c1","init_process_pid":4242,"init_process_start":3744402,
"created":"2026-12-05T17:29:45.000819966Z",
"config":{"rootfs":"/b/rootfs","version":"1.0.2-dev","labels":["bundle=/b","io.x=y=z","nolabel"],
"namespaces":[{"type":"NEWPID","path":""},{"type":"NEWNS","path":""}],
"cgroups":{"name":"c1","Systemd":false,"Rootless":false},
"Hooks":{"poststop":null,"prestart":null},"no_new_keyring":false},
"rootless":false,"cgroup_paths":{"":"/sys/fs/cgroup/unified/c1","freezer":"/sys/fs/cgroup/freezer/c1"},
"intel_rdt_path":""}`

func TestParseState(t *testing.T) {
	st, err := parseState([]byte(sampleState), "c1")
	if err != nil {
		t.Fatal(err)
	}
	if st.InitPid != 4242 || *st.InitStart != 3744402 || st.Config.Rootfs != "/b/rootfs" || !st.simple() {
		t.Errorf("parsed %+v", st)
	}
	tests := []struct {
		name, data, id string
	}{
		{"not json", "{", "c1"},
		{"another id", sampleState, "c2"},
		{"no start time", strings.Replace(sampleState, `"init_process_start":3744402,`, "", 1), "c1"},
		{"no config", `{"id":"c1","init_process_pid":1,"init_process_start":1,"cgroup_paths":{}}`, "c1"},
		{"no cgroup paths", strings.Replace(sampleState, `"cgroup_paths"`, `"other"`, 1), "c1"},
	}
	for _, tt := range tests {
		if _, err := parseState([]byte(tt.data), tt.id); !errors.Is(err, ErrFallBack) {
			t.Errorf("%s: %v, want ErrFallBack", tt.name, err)
		}
	}
}

func TestSimple(t *testing.T) {
	tests := []struct {
		name, from, to string
		want           bool
	}{
		{"runc's default", "", "", true},
		{"shared pid namespace", `{"type":"NEWPID","path":""}`, `{"type":"NEWPID","path":"/proc/1/ns/pid"}`, false},
		{"no pid namespace", `{"type":"NEWPID","path":""},`, "", false},
		{"poststop hook", `"poststop":null`, `"poststop":[{"path":"/bin/true"}]`, false},
		{"systemd", `"Systemd":false`, `"Systemd":true`, false},
		{"rootless cgroups", `"Rootless":false`, `"Rootless":true`, false},
		{"rootless", `"rootless":false`, `"rootless":true`, false},
		{"intel rdt", `"intel_rdt_path":""`, `"intel_rdt_path":"/sys/fs/resctrl/c1"`, false},
		{"intel rdt config", `"no_new_keyring":false`, `"intel_rdt":{"l3_cache_schema":"L3:0=f"}`, false},
	}
	for _, tt := range tests {
		st, err := parseState([]byte(strings.Replace(sampleState, tt.from, tt.to, 1)), "c1")
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := st.simple(); got != tt.want {
			t.Errorf("%s: simple %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	// The command may hold spaces and parentheses.
	line := "4242 (we ird) (x) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 3744402 1000 10 18446744073709551615"
	st, err := parseProcStat([]byte(line))
	if err != nil || st.State != 'S' || st.StartTime != 3744402 {
		t.Errorf("got %+v, %v", st, err)
	}
	for _, bad := range []string{"", "4242 S 1", "4242 (x) S 1 2 3", "4242 (x) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 soon 1"} {
		if _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	// This process's own stat, as the kernel writes it.
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if st, err := parseProcStat(data); err != nil || st.State != 'R' || st.StartTime == 0 {
		t.Errorf("/proc/self/stat: %+v, %v", st, err)
	}
}

func TestRunType(t *testing.T) {
	st, err := parseState([]byte(sampleState), "c1")
	if err != nil {
		t.Fatal(err)
	}
	alive := procStat{State: 'S', StartTime: 3744402}
	tests := []struct {
		name    string
		pid     int
		stat    procStat
		statErr error
		fifo    bool
		want    Status
	}{
		{"created", 4242, alive, nil, true, Created},
		{"running", 4242, alive, nil, false, Running},
		{"gone", 4242, procStat{}, os.ErrNotExist, false, Stopped},
		{"zombie", 4242, procStat{State: 'Z', StartTime: 3744402}, nil, false, Stopped},
		{"dead", 4242, procStat{State: 'X', StartTime: 3744402}, nil, true, Stopped},
		{"pid reused", 4242, procStat{State: 'S', StartTime: 9}, nil, false, Stopped},
		{"no init", 0, alive, nil, true, Stopped},
	}
	for _, tt := range tests {
		st.InitPid = tt.pid
		if got := runType(st, tt.stat, tt.statErr, tt.fifo); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestCheckThawed(t *testing.T) {
	tests := []struct {
		name     string
		v2       bool
		content  string
		readErr  error
		missing  bool
		fallBack bool
	}{
		{"v1 thawed", false, "THAWED\n", nil, false, false},
		{"v1 frozen", false, "FROZEN\n", nil, false, true},
		{"v1 freezing", false, "FREEZING\n", nil, false, true},
		{"v2 thawed", true, "0\n", nil, false, false},
		{"v2 frozen", true, "1\n", nil, false, true},
		{"v2 odd", true, "2\n", nil, false, true},
		{"missing", false, "", os.ErrNotExist, true, false},
		{"unreadable", true, "", os.ErrPermission, false, true},
	}
	for _, tt := range tests {
		err := checkThawed(tt.v2, tt.content, tt.readErr, tt.missing)
		if errors.Is(err, ErrFallBack) != tt.fallBack {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

func TestFormatState(t *testing.T) {
	st, err := parseState([]byte(sampleState), "c1")
	if err != nil {
		t.Fatal(err)
	}
	// runc 1.1's `state` output, field for field, for the same state.
	want := `{
  "ociVersion": "1.0.2-dev",
  "id": "c1",
  "pid": 4242,
  "status": "running",
  "bundle": "/b",
  "rootfs": "/b/rootfs",
  "created": "2026-12-05T17:29:45.000819966Z",
  "annotations": {
    "io.x": "y=z"
  },
  "owner": ""
}`
	out, err := formatState(st, Running)
	if err != nil || string(out) != want {
		t.Errorf("got\n%s\nwant\n%s (%v)", out, want, err)
	}
	st.Config.Labels = []string{"bundle=/b"}
	out, _ = formatState(st, Stopped)
	if !strings.Contains(string(out), `"pid": 0,`) || strings.Contains(string(out), "annotations") || !strings.Contains(string(out), `"status": "stopped"`) {
		t.Errorf("stopped: %s", out)
	}
}

func TestVersion(t *testing.T) {
	tests := []struct {
		out, want string
		ok        bool
	}{
		{"runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\n", "1.1.5+ds1", true},
		{"runc version 1.1.15\n", "1.1.15", true},
		{"runc version 1.2.0\n", "1.2.0", false},
		{"runc version 1.10.0\n", "1.10.0", false},
		{"crun version 1.8.1\ncommit: x\n", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		v := ParseVersion(tt.out)
		if v != tt.want || Supported(v) != tt.ok {
			t.Errorf("%q: %q (supported %v), want %q (%v)", tt.out, v, Supported(v), tt.want, tt.ok)
		}
	}
}

// TestCachedVersion: runc --version runs once per binary; a binary that
// changes is asked again.
func TestCachedVersion(t *testing.T) {
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	runc := filepath.Join(dir, "runc")
	write := func(version string) {
		script := "#!/bin/sh\necho x >>" + calls + "\necho 'runc version " + version + "'\n"
		if err := os.WriteFile(runc, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		data, _ := os.ReadFile(calls)
		return strings.Count(string(data), "x")
	}
	cache := filepath.Join(dir, "runc-version.json")
	ctx := context.Background()
	write("1.1.5")
	for i := range 3 {
		v, err := CachedVersion(ctx, runc, cache)
		if err != nil || v != "1.1.5" {
			t.Fatalf("call %d: %q, %v", i, v, err)
		}
	}
	if n := count(); n != 1 {
		t.Errorf("runc --version ran %d times, want 1", n)
	}
	// Another binary at the same path (another size and time).
	write("1.2.30")
	future := time.Now().Add(time.Hour)
	os.Chtimes(runc, future, future)
	if v, err := CachedVersion(ctx, runc, cache); err != nil || v != "1.2.30" || count() != 2 {
		t.Errorf("after the change: %q, %v, %d runs", v, err, count())
	}
	// A second binary (crun) beside it: both stay remembered.
	crun := filepath.Join(dir, "crun")
	if err := os.WriteFile(crun, []byte("#!/bin/sh\necho x >>"+calls+"\necho 'crun version 1.8.1'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if v, err := CachedVersion(ctx, crun, cache); err != nil || v != "" {
			t.Errorf("crun: %q, %v", v, err)
		}
		if v, err := CachedVersion(ctx, runc, cache); err != nil || v != "1.2.30" {
			t.Errorf("runc after crun: %q, %v", v, err)
		}
	}
	if n := count(); n != 3 {
		t.Errorf("--version ran %d times in all, want 3 (runc twice, crun once)", n)
	}
	if _, err := CachedVersion(ctx, filepath.Join(dir, "none"), cache); err == nil {
		t.Error("a missing runc has a version")
	}
}

// TestOpen: a container is opened only for a runc 1.1 (its version
// remembered beside the root) and when DirectEnv does not turn it off.
func TestOpen(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "runc")
	if err := os.MkdirAll(filepath.Join(root, "c1"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "c1", stateFileName), []byte(sampleState), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := func(name, version string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("#!/bin/sh\necho '"+version+"'\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ctx := context.Background()
	runc11, runc12 := bin("runc11", "runc version 1.1.5"), bin("runc12", "runc version 1.2.0")
	if c, err := Open(ctx, root, "c1", runc11); err != nil || c.st.InitPid != 4242 {
		t.Errorf("runc 1.1: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "runc-version.json")); err != nil {
		t.Errorf("the version is not remembered beside the root: %v", err)
	}
	for name, open := range map[string]func() error{
		"runc 1.2":          func() error { _, err := Open(ctx, root, "c1", runc12); return err },
		"unknown container": func() error { _, err := Open(ctx, root, "c2", runc11); return err },
		"turned off": func() error {
			t.Setenv(DirectEnv, "0")
			defer os.Unsetenv(DirectEnv)
			_, err := Open(ctx, root, "c1", runc11)
			return err
		},
	} {
		if err := open(); !errors.Is(err, ErrFallBack) {
			t.Errorf("%s: %v, want ErrFallBack", name, err)
		}
	}
}
