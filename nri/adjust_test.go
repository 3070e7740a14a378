package nri

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/nri/pkg/api"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/bundle"
)

func baseSpec() *specs.Spec {
	return &specs.Spec{
		Process: &specs.Process{
			Args:    []string{"/bin/app"},
			Env:     []string{"PATH=/bin", "KEEP=1", "DROP=1"},
			Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs"},
			{Destination: "/old", Type: "bind", Source: "/srv/old", Options: []string{"rbind"}},
		},
		Annotations: map[string]string{"keep": "1", "drop": "1"},
	}
}

func TestApplyAdjustment(t *testing.T) {
	adj := &api.ContainerAdjustment{}
	adj.AddEnv("NEW", "v")
	adj.AddEnv("KEEP", "2")
	adj.RemoveEnv("DROP")
	adj.AddAnnotation("added", "yes")
	adj.RemoveAnnotation("drop")
	adj.AddMount(&api.Mount{Destination: "/data/sub", Source: "/srv/sub", Type: "bind", Options: []string{"rbind", "ro"}})
	adj.AddMount(&api.Mount{Destination: "/data", Source: "/srv/data", Type: "bind", Options: []string{"rbind", "rprivate", "rw"}})
	adj.RemoveMount("/old")
	adj.AddRlimit("RLIMIT_NOFILE", 4242, 4000)
	adj.AddRlimit("RLIMIT_NPROC", 10, 10)
	adj.AddHooks(&api.Hooks{Prestart: []*api.Hook{{Path: "/bin/pre"}}, Poststop: []*api.Hook{{Path: "/bin/post", Args: []string{"post", "x"}}}})
	adj.UpdateArgs([]string{"/bin/other", "-v"})
	adj.SetLinuxMemoryLimit(64 << 20)
	adj.SetLinuxCPUQuota(150000)
	adj.SetLinuxCPUPeriod(100000)
	adj.SetLinuxPidLimits(50)

	t.Run("linux", func(t *testing.T) {
		spec := baseSpec()
		spec.Linux = &specs.Linux{Resources: &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0-1"}}}
		a := &api.ContainerAdjustment{}
		a.AddDevice(&api.LinuxDevice{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229})
		a.SetLinuxCgroupsPath("/nri/x")
		a.SetLinuxOomScoreAdj(ptr(500))
		if err := ApplyAdjustment("linux", spec, adj); err != nil {
			t.Fatal(err)
		}
		if err := ApplyAdjustment("linux", spec, a); err != nil {
			t.Fatal(err)
		}
		check(t, spec)
		if l := spec.Linux; l.Resources.Memory == nil || *l.Resources.Memory.Limit != 64<<20 || *l.Resources.CPU.Quota != 150000 ||
			*l.Resources.CPU.Period != 100000 || l.Resources.CPU.Cpus != "0-1" || *l.Resources.Pids.Limit != 50 {
			js, _ := json.Marshal(l.Resources)
			t.Errorf("resources %s", js)
		}
		if spec.Annotations[annotationRctlMemoryUse] != "" {
			t.Error("rctl annotation on linux")
		}
		if len(spec.Linux.Devices) != 1 || spec.Linux.Devices[0].Path != "/dev/fuse" || len(spec.Linux.Resources.Devices) != 1 ||
			!spec.Linux.Resources.Devices[0].Allow || *spec.Linux.Resources.Devices[0].Major != 10 {
			t.Errorf("devices %+v, cgroup %+v", spec.Linux.Devices, spec.Linux.Resources.Devices)
		}
		if spec.Linux.CgroupsPath != "/nri/x" || spec.Process.OOMScoreAdj == nil || *spec.Process.OOMScoreAdj != 500 {
			t.Errorf("cgroups path %q oom %v", spec.Linux.CgroupsPath, spec.Process.OOMScoreAdj)
		}
	})

	t.Run("freebsd", func(t *testing.T) {
		spec := baseSpec()
		if err := ApplyAdjustment("freebsd", spec, adj); err != nil {
			t.Fatal(err)
		}
		check(t, spec)
		if spec.Linux != nil {
			t.Errorf("linux section on freebsd: %+v", spec.Linux)
		}
		for k, v := range map[string]string{bundle.AnnotationRctlMemoryUse: "deny=67108864", bundle.AnnotationRctlPcpu: "deny=150", bundle.AnnotationRctlMaxProc: "deny=50"} {
			if spec.Annotations[k] != v {
				t.Errorf("%s = %q, want %q", k, spec.Annotations[k], v)
			}
		}
		for _, m := range spec.Mounts {
			if strings.HasPrefix(m.Destination, "/data") && (m.Type != "nullfs" || hasOpt(m.Options, "rbind")) {
				t.Errorf("bind mount not turned into nullfs: %+v", m)
			}
		}
	})

	for _, tt := range []struct {
		name, goos string
		adj        func(a *api.ContainerAdjustment)
		want       string
	}{
		{"freebsd devices", "freebsd", func(a *api.ContainerAdjustment) { a.AddDevice(&api.LinuxDevice{Path: "/dev/fuse", Type: "c"}) }, "linux.devices"},
		{"freebsd cpu shares", "freebsd", func(a *api.ContainerAdjustment) { a.SetLinuxCPUShares(512) }, "linux.resources.cpu.shares"},
		{"freebsd cpuset", "freebsd", func(a *api.ContainerAdjustment) { a.SetLinuxCPUSetCPUs("0") }, "linux.resources.cpu.cpus"},
		{"freebsd sysctl", "freebsd", func(a *api.ContainerAdjustment) { a.SetLinuxSysctl("net.x", "1") }, "linux.sysctl"},
		{"freebsd negative pids", "freebsd", func(a *api.ContainerAdjustment) { a.SetLinuxPidLimits(0) }, ""},
		{"cdi devices", "linux", func(a *api.ContainerAdjustment) { a.AddCDIDevice(&api.CDIDevice{Name: "vendor.com/gpu=0"}) }, "CDI devices"},
		{"relative mount", "linux", func(a *api.ContainerAdjustment) { a.AddMount(&api.Mount{Destination: "data", Source: "/x"}) }, `mount destination "data" is not an absolute path`},
		{"linux scheduler", "linux", func(a *api.ContainerAdjustment) { a.SetLinuxScheduler(&api.LinuxScheduler{}) }, "linux.scheduler"},
	} {
		t.Run("refused: "+tt.name, func(t *testing.T) {
			a := &api.ContainerAdjustment{}
			tt.adj(a)
			err := ApplyAdjustment(tt.goos, baseSpec(), a)
			if tt.want == "" {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to name %q", err, tt.want)
			}
		})
	}
}

func hasOpt(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

// check asserts what both OSes do alike.
func check(t *testing.T, spec *specs.Spec) {
	t.Helper()
	if want := []string{"PATH=/bin", "NEW=v", "KEEP=2"}; !reflect.DeepEqual(spec.Process.Env, want) {
		t.Errorf("env %q, want %q", spec.Process.Env, want)
	}
	if want := map[string]string{"keep": "1", "added": "yes"}; !reflect.DeepEqual(without(spec.Annotations, "org.freebsd.rctl."), want) {
		t.Errorf("annotations %v, want %v", spec.Annotations, want)
	}
	var dests []string
	for _, m := range spec.Mounts {
		dests = append(dests, m.Destination)
	}
	if want := []string{"/proc", "/dev", "/data", "/data/sub"}; !reflect.DeepEqual(dests, want) {
		t.Errorf("mounts %q, want %q (parents first, /old removed)", dests, want)
	}
	if want := []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 4242, Soft: 4000}, {Type: "RLIMIT_NPROC", Hard: 10, Soft: 10}}; !reflect.DeepEqual(spec.Process.Rlimits, want) {
		t.Errorf("rlimits %+v", spec.Process.Rlimits)
	}
	if want := []string{"/bin/other", "-v"}; !reflect.DeepEqual(spec.Process.Args, want) {
		t.Errorf("args %q, want %q", spec.Process.Args, want)
	}
	if h := spec.Hooks; h == nil || len(h.Prestart) != 1 || h.Prestart[0].Path != "/bin/pre" || len(h.Poststop) != 1 || !reflect.DeepEqual(h.Poststop[0].Args, []string{"post", "x"}) { //nolint:staticcheck
		t.Errorf("hooks %+v", spec.Hooks)
	}
}

func without(m map[string]string, prefix string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if !strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

func TestRctlAnnotations(t *testing.T) {
	for _, tt := range []struct {
		name string
		set  func(u *api.ContainerUpdate)
		ann  map[string]string
		rest []string
	}{
		{"memory", func(u *api.ContainerUpdate) { u.SetLinuxMemoryLimit(1 << 30) }, map[string]string{annotationRctlMemoryUse: "deny=1073741824"}, nil},
		{"cpu rounds up", func(u *api.ContainerUpdate) { u.SetLinuxCPUQuota(50001); u.SetLinuxCPUPeriod(100000) }, map[string]string{annotationRctlPcpu: "deny=51"}, nil},
		{"cpu default period", func(u *api.ContainerUpdate) { u.SetLinuxCPUQuota(200000) }, map[string]string{annotationRctlPcpu: "deny=200"}, nil},
		{"unlimited cpu", func(u *api.ContainerUpdate) { u.SetLinuxCPUQuota(-1) }, map[string]string{}, nil},
		{"pids", func(u *api.ContainerUpdate) { u.SetLinuxPidLimits(7) }, map[string]string{annotationRctlMaxProc: "deny=7"}, nil},
		{"no equivalent", func(u *api.ContainerUpdate) {
			u.SetLinuxMemoryReservation(1)
			u.SetLinuxCPUShares(2)
			u.AddLinuxUnified("memory.high", "1")
		}, map[string]string{}, []string{"linux.resources.cpu.shares", "linux.resources.memory.reservation", "linux.resources.unified"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := &api.ContainerUpdate{}
			tt.set(u)
			ann, rest, err := RctlAnnotations(u.Linux.Resources)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ann, tt.ann) || !reflect.DeepEqual(rest, tt.rest) {
				t.Errorf("got %v %q, want %v %q", ann, rest, tt.ann, tt.rest)
			}
		})
	}
}
