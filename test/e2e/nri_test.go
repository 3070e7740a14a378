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
	"testing"

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
	dir, err := os.MkdirTemp("", "stockade-e2e-"+prog+"-")
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
		id := strings.TrimSpace(e.must("run", "-d", "--name", "n1", "--annotation", "test.nri010/rec-a=note", "--memory", "64m", ref, "sleep", "30s").stdout)
		pid := e.psOne("n1").State.Pid
		if pid <= 0 {
			t.Fatalf("no pid for n1: %+v", e.psOne("n1"))
		}
		e.must("stop", "-t", "1", "n1")
		e.must("rm", "n1")
		var all [][]types.Request
		for i, name := range []string{"rec-a", "rec-b", "rec-c"} {
			rs := requests(t, rec, name)
			all = append(all, rs)
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

	t.Run("a container that exits on its own gets its delete", func(t *testing.T) {
		r := e.run("run", "--rm", ref, "echo", "hi")
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
			r := e.run("run", "--rm", "--name", "refused", "--annotation", tt.annotation, ref, "echo", "never")
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
