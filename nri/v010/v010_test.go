package v010

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	types "github.com/containerd/nri/types/v1" //nolint:staticcheck
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/bundle"
	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/jail"
)

// plugin writes a shell-script plugin named name into dir. The script
// saves its stdin to name.req in dir, appends its name to dir/order, then
// runs body.
func plugin(t *testing.T, dir, name, body string) {
	t.Helper()
	script := "#!/bin/sh\ncat > " + filepath.Join(dir, name+".req") + "\necho " + name + " >> " + filepath.Join(dir, "order") + "\n" + body + "\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "conf.json"), `{"version":"0.1","plugins":[{"type":"b","conf":{"x":1}},{"type":"a"}]}`)
	write(t, filepath.Join(dir, "resource.d", "20-z.conf"), `{"type":"z"}`)
	write(t, filepath.Join(dir, "resource.d", "10-y.conf"), `{"type":"y","conf":{"k":"v"}}`)
	write(t, filepath.Join(dir, "resource.d", "README"), `not a plugin`)
	c, err := Load(Config{ConfigFile: filepath.Join(dir, "conf.json"), ConfigDir: filepath.Join(dir, "resource.d")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Plugins(), []string{"b", "a", "y", "z"}; !reflect.DeepEqual(got, want) {
		t.Errorf("plugins %q, want %q (conf.json's, then resource.d's by file name)", got, want)
	}

	t.Run("missing files are no plugins", func(t *testing.T) {
		c, err := Load(Config{ConfigFile: filepath.Join(dir, "nope.json"), ConfigDir: filepath.Join(dir, "nope.d")})
		if err != nil || len(c.Plugins()) != 0 {
			t.Errorf("got %v, %v", c, err)
		}
	})
	for _, tt := range []struct{ name, file, content, want string }{
		{"bad json", "conf.json", `{"plugins":[`, "conf.json: unexpected end of JSON input"},
		{"type with slash", "conf.json", `{"plugins":[{"type":"../bin/sh"}]}`, `plugin 0: plugin type "../bin/sh" is not a file name`},
		{"empty type", "resource.d/1.conf", `{"conf":{}}`, `1.conf: plugin type "" is not a file name`},
		{"null plugin", "conf.json", `{"plugins":[null]}`, "plugin 0 is null"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := t.TempDir()
			write(t, filepath.Join(d, tt.file), tt.content)
			_, err := Load(Config{ConfigFile: filepath.Join(d, "conf.json"), ConfigDir: filepath.Join(d, "resource.d")})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestInvoke(t *testing.T) {
	ok := `echo '{"plugin":"p","version":"0.1","metadata":{"seen":"yes"}}'`
	tests := []struct {
		name    string
		body    string
		wantErr string
	}{
		{"ok", ok, ""},
		{"error in result", `echo '{"plugin":"p","error":"no cpus left"}'`, "nri plugin p: no cpus left"},
		{"exit status", "echo 'cannot cope' >&2; exit 3", "nri plugin p: exit status 3: cannot cope"},
		{"garbage", "echo 'hello there'", `nri plugin p: result is not JSON`},
		{"hang", "sleep 30", "nri plugin p: no answer within 300ms (killed)"},
		{"hang in a child holding stdout", "sleep 30 & wait", "nri plugin p: no answer within 300ms (killed)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			plugin(t, dir, "p", tt.body)
			plugin(t, dir, "after", ok)
			write(t, filepath.Join(dir, "conf.json"), `{"version":"0.1","plugins":[{"type":"p","conf":{"a":1}},{"type":"after"}]}`)
			c, err := Load(Config{PluginPath: dir, ConfigFile: filepath.Join(dir, "conf.json"), Timeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			res, err := c.Invoke(context.Background(), NewRequest(types.Create, Target{ID: "c1", Pid: 42}))
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %s: a hanging plugin must be killed at the timeout", took)
			}
			order, _ := os.ReadFile(filepath.Join(dir, "order"))
			if tt.wantErr != "" {
				var pe *PluginError
				if !errors.As(err, &pe) || pe.Plugin != "p" || !strings.HasPrefix(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("error %v, want one line starting %q", err, tt.wantErr)
				}
				if string(order) != "p\n" {
					t.Errorf("plugins run: %q; the failure must stop the chain", order)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 2 || res[0].Metadata["seen"] != "yes" {
				t.Errorf("results %+v", res)
			}
			var req types.Request
			data, _ := os.ReadFile(filepath.Join(dir, "after.req"))
			if err := json.Unmarshal(data, &req); err != nil {
				t.Fatal(err)
			}
			if req.Version != "0.1" || req.State != types.Create || req.ID != "c1" || req.Pid != 42 || len(req.Results) != 1 || req.Results[0].Metadata["seen"] != "yes" || req.Conf != nil {
				t.Errorf("second plugin's request %s: want the first one's result and no conf", data)
			}
			data, _ = os.ReadFile(filepath.Join(dir, "p.req"))
			if !strings.Contains(string(data), `"conf":{"a":1}`) {
				t.Errorf("first plugin's request %s lacks its conf", data)
			}
		})
	}
	t.Run("missing binary", func(t *testing.T) {
		dir := t.TempDir()
		write(t, filepath.Join(dir, "conf.json"), `{"plugins":[{"type":"ghost"}]}`)
		c, _ := Load(Config{PluginPath: dir, ConfigFile: filepath.Join(dir, "conf.json")})
		_, err := c.Invoke(context.Background(), NewRequest(types.Create, Target{ID: "c1"}))
		if err == nil || !strings.HasPrefix(err.Error(), "nri plugin ghost: no binary "+filepath.Join(dir, "ghost")) {
			t.Errorf("error %v", err)
		}
	})
}

func ptr[T any](v T) *T { return &v }

func TestSpecAndRequest(t *testing.T) {
	linux := &specs.Spec{
		Annotations: map[string]string{"a": "1"},
		Linux: &specs.Linux{
			CgroupsPath: "/stockade/c1",
			Resources:   &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr[int64](1 << 20)}},
			Namespaces:  []specs.LinuxNamespace{{Type: "pid"}, {Type: "network", Path: "/run/netns/x"}},
		},
	}
	freebsd := &specs.Spec{Annotations: map[string]string{
		bundle.AnnotationRctlMemoryUse: "deny=536870912",
		bundle.AnnotationRctlPcpu:      "deny=150",
		bundle.AnnotationRctlMaxProc:   "deny=100",
		"org.freebsd.rctl.openfiles":   "deny=1k",
	}}
	tests := []struct {
		name string
		goos string
		spec *specs.Spec
		jid  string
		want string
	}{
		{"linux", "linux", linux, "", `{"resources":{"memory":{"limit":1048576}},"namespaces":{"network":"/run/netns/x","pid":""},"cgroupsPath":"/stockade/c1","annotations":{"a":"1"}}`},
		{"freebsd", "freebsd", freebsd, "7", `{"resources":{"memory":{"limit":536870912},"cpu":{"quota":150000,"period":100000},"pids":{"limit":100}},` +
			`"annotations":{"org.freebsd.jail.jid":"7","org.freebsd.rctl.maxproc":"deny=100","org.freebsd.rctl.memoryuse":"deny=536870912","org.freebsd.rctl.openfiles":"deny=1k","org.freebsd.rctl.pcpu":"deny=150"}}`},
		{"freebsd without limits", "freebsd", &specs.Spec{}, "", `{"resources":{}}`},
		{"freebsd suffix and other actions", "freebsd", &specs.Spec{Annotations: map[string]string{bundle.AnnotationRctlMemoryUse: "deny=2g", bundle.AnnotationRctlMaxProc: "log=5"}}, "",
			`{"resources":{"memory":{"limit":2147483648}},"annotations":{"org.freebsd.rctl.maxproc":"log=5","org.freebsd.rctl.memoryuse":"deny=2g"}}`},
		{"linux without resources", "linux", &specs.Spec{Linux: &specs.Linux{}}, "", `{"resources":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Spec(tt.goos, tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			r := NewRequest(types.Create, Target{ID: "c1", Pid: 9, Spec: s, Labels: map[string]string{"l": "v"}, JID: tt.jid})
			got, _ := json.Marshal(r.Spec)
			if string(got) != tt.want {
				t.Errorf("spec\n got %s\nwant %s", got, tt.want)
			}
			if r.Pid != 9 || r.ID != "c1" || r.SandboxID != "" || r.Labels["l"] != "v" {
				t.Errorf("request %+v", r)
			}
			if tt.jid != "" && s.Annotations[AnnotationJID] != "" {
				t.Error("NewRequest must not change the container's spec")
			}
		})
	}
}

func TestNamesAgree(t *testing.T) {
	if AnnotationJID != jail.AnnotationJID {
		t.Errorf("AnnotationJID %q, the jail runtime says %q", AnnotationJID, jail.AnnotationJID)
	}
	for _, p := range [][2]string{
		{annotationRctlMemoryUse, bundle.AnnotationRctlMemoryUse},
		{annotationRctlPcpu, bundle.AnnotationRctlPcpu},
		{annotationRctlMaxProc, bundle.AnnotationRctlMaxProc},
	} {
		if p[0] != p[1] {
			t.Errorf("%q, bundle says %q", p[0], p[1])
		}
	}
}

func TestHook(t *testing.T) {
	for _, goos := range []string{"linux", "freebsd"} {
		t.Run(goos, func(t *testing.T) {
			dir := t.TempDir()
			plugin(t, dir, "p", `echo '{"plugin":"p"}'`)
			write(t, filepath.Join(dir, "conf.json"), `{"plugins":[{"type":"p"}]}`)
			c, err := Load(Config{PluginPath: dir, ConfigFile: filepath.Join(dir, "conf.json")})
			if err != nil {
				t.Fatal(err)
			}
			var asked []string
			h := &Hook{Client: c, GOOS: goos, State: func(_ context.Context, id string) (specs.State, error) {
				asked = append(asked, id)
				return specs.State{Annotations: map[string]string{jail.AnnotationJID: "12"}}, nil
			}}
			ctr := &engine.Container{ID: "c1", Name: "one", Labels: map[string]string{"app": "x"}}
			spec := &specs.Spec{Annotations: map[string]string{bundle.AnnotationRctlMaxProc: "deny=5"}, Linux: &specs.Linux{}}
			if err := h.Create(context.Background(), ctr, spec); err != nil {
				t.Fatal(err)
			}
			h.Stopped(context.Background(), ctr) // no create sent: no delete
			if _, err := os.Stat(filepath.Join(dir, "p.req")); err == nil {
				t.Fatal("delete sent without a create")
			}
			if err := h.Created(context.Background(), ctr, 4321); err != nil {
				t.Fatal(err)
			}
			read := func() types.Request {
				var r types.Request
				data, _ := os.ReadFile(filepath.Join(dir, "p.req"))
				if err := json.Unmarshal(data, &r); err != nil {
					t.Fatal(err)
				}
				return r
			}
			r := read()
			wantJID := map[string]string{"linux": "", "freebsd": "12"}[goos]
			if r.State != types.Create || r.Pid != 4321 || r.Labels["app"] != "x" || r.Spec.Annotations[AnnotationJID] != wantJID {
				t.Errorf("create %+v %+v", r, r.Spec)
			}
			h.Stopped(context.Background(), ctr)
			r = read()
			if r.State != types.Delete || r.Pid != 4321 || r.Spec.Annotations[AnnotationJID] != wantJID {
				t.Errorf("delete %+v %+v", r, r.Spec)
			}
			if goos == "linux" && len(asked) != 0 {
				t.Errorf("jail state asked on linux: %q", asked)
			}
		})
	}
}
