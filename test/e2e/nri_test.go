package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	types "github.com/containerd/nri/types/v1" //nolint:staticcheck
)

var testBins struct {
	sync.Mutex
	built map[string]string
}

// testBin returns the path of one of the test programs under testdata
// (nri010plugin, nriplugin), built once per run.
func testBin(t *testing.T, prog string) string {
	t.Helper()
	testBins.Lock()
	defer testBins.Unlock()
	if p, ok := testBins.built[prog]; ok {
		return p
	}
	dir, err := sharedDir(prog + "-")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, prog)
	build := exec.Command("go", "build", "-o", p, "./testdata/"+prog)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v: %s", prog, err, out)
	}
	if testBins.built == nil {
		testBins.built = map[string]string{}
	}
	testBins.built[prog] = p
	return p
}

// install copies the program src to dir/name, executable.
func install(t *testing.T, src, dir, name string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// nri010Env is a ctrEnv with NRI 0.1 on: the test plugin installed as
// rec-a (listed in conf.json), rec-b and rec-c (resource.d/10-b.conf and
// 20-c.conf), each recording its requests in the returned directory.
func nri010Env(t *testing.T) (*env, string, string) {
	e, ref := ctrEnv(t)
	bin := filepath.Join(e.dir, "nri-bin")
	rec := filepath.Join(e.dir, "nri-rec")
	os.MkdirAll(rec, 0o755)
	for _, n := range []string{"rec-a", "rec-b", "rec-c"} {
		install(t, testBin(t, "nri010plugin"), bin, n)
	}
	conf := fmt.Sprintf(`{"record":%q}`, rec)
	os.WriteFile(filepath.Join(e.dir, "conf.json"), []byte(`{"version":"0.1","plugins":[{"type":"rec-a","conf":`+conf+`}]}`), 0o644)
	os.MkdirAll(filepath.Join(e.dir, "resource.d"), 0o755)
	os.WriteFile(filepath.Join(e.dir, "resource.d", "20-c.conf"), []byte(`{"type":"rec-c","conf":`+conf+`}`), 0o644)
	os.WriteFile(filepath.Join(e.dir, "resource.d", "10-b.conf"), []byte(`{"type":"rec-b","conf":`+conf+`}`), 0o644)
	e.writeConfig(fmt.Sprintf(`
[nri]
plugin_request_timeout = "3s"
[nri.v010]
enable = true
plugin_path = %q
config_file = %q
config_dir = %q
`, bin, filepath.Join(e.dir, "conf.json"), filepath.Join(e.dir, "resource.d")))
	return e, ref, rec
}

// requests reads what the 0.1 test plugin name recorded, and empties it.
func requests(t *testing.T, rec, name string) []types.Request {
	t.Helper()
	path := filepath.Join(rec, name+".log")
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(path)
	defer f.Close()
	var out []types.Request
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r types.Request
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v: %s", path, err, sc.Bytes())
		}
		out = append(out, r)
	}
	return out
}

func states(rs []types.Request) string {
	var s []string
	for _, r := range rs {
		s = append(s, string(r.State))
	}
	return strings.Join(s, ",")
}

func TestNRI010(t *testing.T) {
	e, ref, rec := nri010Env(t)

	t.Run("create and delete, in order, with what a plugin needs", func(t *testing.T) {
		id := strings.TrimSpace(e.must("run", "--network", "none", "-d", "--name", "n1", "--annotation", "test.nri010/rec-a=note", "--memory", "64m", ref, "sleep", "30s").stdout)
		pid := e.psOne("n1").State.Pid
		if pid <= 0 {
			t.Fatalf("no pid for n1: %+v", e.psOne("n1"))
		}
		e.must("stop", "-t", "1", "n1")
		e.must("rm", "n1")
		for i, name := range []string{"rec-a", "rec-b", "rec-c"} {
			rs := requests(t, rec, name)
			if states(rs) != "create,delete" {
				t.Fatalf("%s got %q, want create,delete", name, states(rs))
			}
			for _, r := range rs {
				if r.ID != id || r.Pid != pid || r.Version != "0.1" || r.SandboxID != "" {
					t.Errorf("%s %s: id %s pid %d version %q sandbox %q; want id %s pid %d", name, r.State, r.ID, r.Pid, r.Version, r.SandboxID, id, pid)
				}
			}
			create := rs[0]
			if len(create.Results) != i {
				t.Errorf("%s got %d results, want those of the %d plugins before it", name, len(create.Results), i)
			}
			for j, res := range create.Results {
				if want := []string{"rec-a", "rec-b"}[j]; res.Plugin != want || res.Metadata["plugin"] != want {
					t.Errorf("%s result %d is %+v, want %s's", name, j, res, want)
				}
			}
			if create.Spec == nil || create.Spec.Annotations["test.nri010/rec-a"] != "note" {
				t.Errorf("%s: spec %+v", name, create.Spec)
				continue
			}
			if _, ok := create.Spec.Namespaces["pid"]; !ok {
				t.Errorf("%s: namespaces %v lack pid", name, create.Spec.Namespaces)
			}
			var res struct {
				Memory struct {
					Limit int64 `json:"limit"`
				} `json:"memory"`
			}
			if err := json.Unmarshal(create.Spec.Resources, &res); err != nil || res.Memory.Limit != 64<<20 {
				t.Errorf("%s: resources %s, want memory.limit %d", name, create.Spec.Resources, 64<<20)
			}
		}
	})

	t.Run("a failed start without --rm leaves nothing either", func(t *testing.T) {
		for _, detach := range []string{"--detach=false", "--detach"} {
			r := e.run("run", "--network", "none", detach, "--name", "refused", "--annotation", "test.nri010/rec-b=fail", ref, "echo", "never")
			if r.code == 0 || !strings.Contains(r.stderr, "nri plugin rec-b: refused by annotation") {
				t.Fatalf("run %s: want a failed start: %s", detach, r)
			}
			if ps := e.ps(); len(ps) != 0 {
				t.Errorf("run %s left containers: %+v", detach, ps)
			}
			for _, name := range []string{"rec-a", "rec-b", "rec-c"} {
				requests(t, rec, name)
			}
		}
	})

	t.Run("a container that exits on its own gets its delete", func(t *testing.T) {
		r := e.run("run", "--network", "none", "--rm", ref, "echo", "hi")
		if r.code != 0 || strings.TrimSpace(r.stdout) != "hi" {
			t.Fatal(r)
		}
		for _, name := range []string{"rec-a", "rec-b", "rec-c"} {
			if got := states(requests(t, rec, name)); got != "create,delete" {
				t.Errorf("%s got %q", name, got)
			}
		}
	})

	for _, tt := range []struct {
		name, annotation, want string
		ran                    []string // plugins that got the create
	}{
		{"an error in the result", "test.nri010/rec-b=fail", "nri plugin rec-b: refused by annotation", []string{"rec-a", "rec-b"}},
		{"a non-zero exit", "test.nri010/rec-a=exit", "nri plugin rec-a: exit status 3: exiting on request", []string{"rec-a"}},
		{"garbage on stdout", "test.nri010/rec-c=garbage", "nri plugin rec-c: result is not JSON", []string{"rec-a", "rec-b", "rec-c"}},
		{"no answer in time", "test.nri010/rec-b=hang", "nri plugin rec-b: no answer within 3s (killed)", []string{"rec-a", "rec-b"}},
	} {
		t.Run("start fails on "+tt.name, func(t *testing.T) {
			r := e.run("run", "--network", "none", "--rm", "--name", "refused", "--annotation", tt.annotation, ref, "echo", "never")
			if r.code == 0 || !strings.Contains(r.stderr, tt.want) || strings.Contains(r.stdout, "never") {
				t.Fatalf("want a failed start with %q: %s", tt.want, r)
			}
			if ps := e.ps(); len(ps) != 0 {
				t.Errorf("containers left: %+v", ps)
			}
			for _, name := range []string{"rec-a", "rec-b", "rec-c"} {
				// As containerd 1.5 deleted a failed start's task with its
				// NRI delete, every plugin gets the delete, also those the
				// failure kept from the create.
				want := "delete"
				for _, n := range tt.ran {
					if n == name {
						want = "create,delete"
					}
				}
				if got := states(requests(t, rec, name)); got != want {
					t.Errorf("%s got %q, want %q", name, got, want)
				}
			}
			if left := processesOf(filepath.Join(e.dir, "nri-bin")); len(left) > 0 {
				t.Errorf("plugin processes left: %v", left)
			}
		})
	}
}

// processesOf lists the pids whose executable is in dir.
func processesOf(dir string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && strings.HasPrefix(exe, dir+"/") {
			pids = append(pids, e.Name()+" "+exe)
		}
	}
	return pids
}

// nriEnv is a ctrEnv with current NRI on and the test plugin installed as
// the pre-installed plugins named (NN-NAME), each configured with cfg
// (a JSON object; "record" is added). It returns the env, the image, the
// plugin directory and the record file.
func nriEnv(t *testing.T, names []string, cfg map[string]map[string]any) (*env, string, string, string) {
	e, ref := ctrEnv(t)
	plugins := filepath.Join(e.dir, "nri-plugins")
	confs := filepath.Join(e.dir, "nri-conf")
	rec := filepath.Join(e.dir, "nri-record")
	os.MkdirAll(confs, 0o755)
	os.MkdirAll(plugins, 0o755)
	for _, n := range names {
		install(t, testBin(t, "nriplugin"), plugins, n)
		c := map[string]any{"record": rec}
		for k, v := range cfg[n] {
			c[k] = v
		}
		data, _ := json.Marshal(c)
		if err := os.WriteFile(filepath.Join(confs, n+".conf"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e.writeConfig(fmt.Sprintf(`
[nri]
enable = true
plugin_path = %q
plugin_config_path = %q
socket_path = %q
plugin_request_timeout = "5s"
plugin_registration_timeout = "10s"
`, plugins, confs, filepath.Join(e.dir, "nri.sock")))
	return e, ref, plugins, rec
}

// recorded returns the lines the recording plugins wrote about the
// container name (or "-"), as "PLUGIN EVENT [DETAIL]", and empties the file.
func recorded(t *testing.T, rec, name string) []string {
	t.Helper()
	data, err := os.ReadFile(rec)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[2] == name {
			out = append(out, strings.Join(append(f[:2:2], f[3:]...), " "))
		}
	}
	return out
}

func TestNRIPreinstalled(t *testing.T) {
	mnt := t.TempDir()
	e, ref, plugins, rec := nriEnv(t, []string{"10-adjust", "20-reject", "30-recorder", "40-crash"},
		map[string]map[string]any{"10-adjust": {"adjust": true, "rlimit": true, "mount": mnt}})

	t.Run("adjustments seen from inside the container", func(t *testing.T) {
		for _, tt := range []struct{ args, want string }{
			{"env NRI_ADJUST", "NRI_ADJUST=yes"},
			{"nofile", "nofile=4242/4242"},
			{"write /nri/hello from-inside", "wrote /nri/hello"},
		} {
			r := e.run(append([]string{"run", "--network", "none", "--rm", ref}, strings.Fields(tt.args)...)...)
			if r.code != 0 || strings.TrimSpace(r.stdout) != tt.want || r.stderr != "" {
				t.Errorf("run %s: want %q and nothing on stderr: %s", tt.args, tt.want, r)
			}
		}
		if data, err := os.ReadFile(filepath.Join(mnt, "hello")); err != nil || string(data) != "from-inside" {
			t.Errorf("the plugin's mount: host side has %q, %v", data, err)
		}
		id := strings.TrimSpace(e.must("create", "--network", "none", "--name", "annotated", ref).stdout)
		var spec struct {
			Annotations map[string]string `json:"annotations"`
		}
		data, err := os.ReadFile(filepath.Join(e.root, "containers", id, "config.json"))
		if err != nil || json.Unmarshal(data, &spec) != nil || spec.Annotations["nri.test/adjust"] != "yes" {
			t.Errorf("bundle annotations %v (%v): want nri.test/adjust=yes", spec.Annotations, err)
		}
		e.must("rm", "annotated")
	})

	t.Run("every event, also the stop of a container that exited on its own", func(t *testing.T) {
		recorded(t, rec, "selfexit")
		checkSelfExitEvents(t, e, ref, rec, "recorder")
		data, _ := os.ReadFile(rec)
		if !strings.Contains(string(data), "recorder Synchronize -") || !strings.Contains(string(data), "recorder Configure - stockade") {
			t.Errorf("no Configure/Synchronize recorded:\n%s", data)
		}
	})

	t.Run("a plugin that rejects fails the create and leaves nothing", func(t *testing.T) {
		for _, args := range [][]string{
			{"run", "--network", "none", "--rm", "--annotation", "nri.test/reject=reject", ref, "echo", "never"},
			{"run", "--network", "none", "--name", "rejected", "--annotation", "nri.test/reject=reject", ref, "echo", "never"},
			{"create", "--network", "none", "--name", "rejected", "--annotation", "nri.test/reject=reject", ref},
		} {
			r := e.run(args...)
			if r.code == 0 || !strings.Contains(r.stderr, "nri plugin 20-reject: rejected by the test policy") || strings.Contains(r.stdout, "never") {
				t.Errorf("%v: want the plugin's refusal: %s", args, r)
			}
			if ps := e.ps(); len(ps) != 0 {
				t.Errorf("%v left containers: %+v", args, ps)
			}
		}
		entries, _ := os.ReadDir(filepath.Join(e.root, "containers"))
		if len(entries) != 0 {
			t.Errorf("bundles left: %v", entries)
		}
	})

	t.Run("a plugin that crashes mid-request is dropped, the container runs", func(t *testing.T) {
		r := e.run("run", "--network", "none", "--rm", "--annotation", "nri.test/crash=crash", ref, "env", "NRI_ADJUST")
		if r.code != 0 || strings.TrimSpace(r.stdout) != "NRI_ADJUST=yes" {
			t.Fatalf("want the container run without the crashed plugin: %s", r)
		}
		if !strings.Contains(r.stderr, "40-crash") {
			t.Errorf("the crash is not reported: %s", r.stderr)
		}
	})

	t.Run("a plugin's update of a running container goes through runc update", func(t *testing.T) {
		e.must("run", "--network", "none", "-d", "--name", "updated", "--memory", "64m", "--annotation", "nri.test/update=recorder", ref, "sleep", "30s")
		defer e.run("rm", "-f", "updated")
		eventually(t, 10*time.Second, "the update", func() bool {
			data, _ := os.ReadFile(rec)
			return strings.Contains(string(data), "recorder UpdateContainers updated")
		})
		if got := recorded(t, rec, "updated"); !slicesContain(got, "recorder UpdateContainers failed=0 err=<nil>") {
			t.Errorf("update not accepted: %q", got)
		}
		if got := memoryLimit(t, e.psOne("updated").State.Pid); got != 96<<20 {
			t.Errorf("the container's cgroup memory limit is %d, want %d", got, 96<<20)
		}
	})

	if left := processesOf(plugins); len(left) > 0 {
		t.Errorf("plugin processes left: %v", left)
	}
}

// memoryLimit reads the memory limit of the cgroup of pid (cgroup v1 or v2).
func memoryLimit(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		var file string
		switch {
		case slicesContain(strings.Split(f[1], ","), "memory"):
			file = filepath.Join("/sys/fs/cgroup/memory", f[2], "memory.limit_in_bytes")
		case f[0] == "0" && f[1] == "":
			file = filepath.Join("/sys/fs/cgroup", f[2], "memory.max")
		default:
			continue
		}
		v, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		var n int64
		fmt.Sscan(strings.TrimSpace(string(v)), &n)
		return n
	}
	t.Fatalf("no memory cgroup for pid %d:\n%s", pid, data)
	return 0
}

// startService starts `stockade system service` in the env and waits until
// it serves. It returns the process and its stderr.
func (e *env) startService(t *testing.T) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(stockadeBin, "--root", e.root, "--state", e.state, "--config", filepath.Join(e.dir, "stockade.toml"), "system", "service")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	eventually(t, 20*time.Second, "the service to start", func() bool {
		return strings.Contains(logs.String(), "NRI service started")
	})
	return cmd, logs
}

// syncBuffer is a bytes.Buffer safe for a process's output and a test.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
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

type infoNRI struct {
	NRI struct {
		Service     bool     `json:"service"`
		Plugins     []string `json:"plugins"`
		V010Plugins []string `json:"v010_plugins"`
	} `json:"nri"`
}

func (e *env) nriInfo() infoNRI {
	e.t.Helper()
	var info infoNRI
	r := e.must("system", "info", "--format", "json")
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil {
		e.t.Fatalf("system info: %v: %s", err, r.stdout)
	}
	return info
}

func TestNRIService(t *testing.T) {
	e, ref, plugins, rec := nriEnv(t, []string{"10-adjust"}, map[string]map[string]any{"10-adjust": {"adjust": true}})
	e.must("run", "--network", "none", "-d", "--name", "longrun", ref, "sleep", "60s")

	if r := e.must("system", "info"); !strings.Contains(r.stdout, "service=not running") || !strings.Contains(r.stdout, "10-adjust") {
		t.Errorf("system info without the service:\n%s", r.stdout)
	}
	svc, logs := e.startService(t)

	// An external plugin connects to [nri] socket_path.
	extConf := filepath.Join(e.dir, "ext.json")
	os.WriteFile(extConf, []byte(fmt.Sprintf(`{"record":%q,"adjust":true}`, rec)), 0o644)
	ext := exec.Command(testBin(t, "nriplugin"), "-name", "ext", "-idx", "50", "-socket", filepath.Join(e.dir, "nri.sock"), "-config", extConf)
	var extLog syncBuffer
	ext.Stdout, ext.Stderr = &extLog, &extLog
	if err := ext.Start(); err != nil {
		t.Fatal(err)
	}
	extDone := make(chan error, 1)
	go func() { extDone <- ext.Wait() }()
	t.Cleanup(func() { ext.Process.Kill() })
	eventually(t, 20*time.Second, "the external plugin to register", func() bool {
		return slicesContain(e.nriInfo().NRI.Plugins, "50-ext")
	})
	if info := e.nriInfo(); !info.NRI.Service || !slicesContain(info.NRI.Plugins, "10-adjust") {
		t.Errorf("system info with the service: %+v", info)
	}
	if data, _ := os.ReadFile(rec); !strings.Contains(string(data), "ext Synchronize - pods=1 containers=1") {
		t.Errorf("the external plugin was not synchronized with the running container:\n%s", data)
	}

	t.Run("external and pre-installed plugins adjust containers", func(t *testing.T) {
		for _, v := range []string{"NRI_EXT", "NRI_ADJUST"} {
			if r := e.run("run", "--network", "none", "--rm", ref, "env", v); r.code != 0 || strings.TrimSpace(r.stdout) != v+"=yes" {
				t.Errorf("env %s: %s", v, r)
			}
		}
	})

	t.Run("the external plugin sees every event", func(t *testing.T) {
		checkSelfExitEvents(t, e, ref, rec, "ext")
	})

	t.Run("an external plugin's refusal fails the create", func(t *testing.T) {
		r := e.run("run", "--network", "none", "--name", "refused", "--annotation", "nri.test/reject=ext", ref, "echo", "never")
		if r.code == 0 || !strings.Contains(r.stderr, "nri plugin 50-ext: rejected by the test policy") {
			t.Errorf("want the external plugin's refusal: %s", r)
		}
		for _, p := range e.ps() {
			if p.Name == "refused" {
				t.Errorf("container left: %+v", p)
			}
		}
	})

	t.Run("an external plugin that crashes mid-request is dropped", func(t *testing.T) {
		r := e.run("run", "--network", "none", "--rm", "--annotation", "nri.test/crash=ext", ref, "echo", "survived")
		if r.code != 0 || strings.TrimSpace(r.stdout) != "survived" {
			t.Fatalf("want the container to run without the plugin: %s", r)
		}
		select {
		case <-extDone:
		case <-time.After(10 * time.Second):
			t.Fatal("the plugin did not exit")
		}
		eventually(t, 10*time.Second, "the crashed plugin to leave the list", func() bool {
			return !slicesContain(e.nriInfo().NRI.Plugins, "50-ext")
		})
	})

	t.Run("SIGTERM stops the service cleanly", func(t *testing.T) {
		svc.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- svc.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("service exit: %v\n%s", err, logs.String())
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("service still running 15s after SIGTERM:\n%s", logs.String())
		}
		for _, p := range []string{filepath.Join(e.dir, "nri.sock"), filepath.Join(e.state, "nri-service.sock")} {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("%s left: %v", p, err)
			}
		}
		if left := processesOf(plugins); len(left) > 0 {
			t.Errorf("plugin processes left: %v", left)
		}
		// Without the service, commands start the pre-installed plugins.
		if r := e.run("run", "--network", "none", "--rm", ref, "env", "NRI_ADJUST"); r.code != 0 || strings.TrimSpace(r.stdout) != "NRI_ADJUST=yes" {
			t.Errorf("pre-installed plugin without the service: %s", r)
		}
	})
}

func slicesContain(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkSelfExitEvents runs a container that exits on its own (code 3),
// removes it once the plugin named plugin recorded its StopContainer, and
// checks that the plugin saw its whole life, in order.
func checkSelfExitEvents(t *testing.T, e *env, ref, rec, plugin string) {
	t.Helper()
	e.must("run", "--network", "none", "-d", "--name", "selfexit", ref, "exit", "3")
	eventually(t, 20*time.Second, "selfexit to exit", func() bool { return e.psOne("selfexit").State.Status == "exited" })
	// The monitor sends StopContainer after recording the exit.
	eventually(t, 10*time.Second, "StopContainer", func() bool {
		data, _ := os.ReadFile(rec)
		return strings.Contains(string(data), plugin+" StopContainer selfexit")
	})
	e.must("rm", "selfexit")
	var got []string
	for _, l := range recorded(t, rec, "selfexit") {
		if ev, ok := strings.CutPrefix(l, plugin+" "); ok {
			got = append(got, ev)
		}
	}
	want := []string{
		"RunPodSandbox", "CreateContainer pod=selfexit", "StartContainer pid=true", "PostStartContainer",
		"StopContainer exit=3", "RemoveContainer", "StopPodSandbox", "RemovePodSandbox",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s saw\n%s\nwant\n%s", plugin, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
