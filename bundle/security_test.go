package bundle

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/jail"
)

// summarizeSeccomp keeps a seccomp profile's default action and drops its
// rules, which depend on the host's architecture and kernel, so that
// golden files hold the same bytes on every host.
func summarizeSeccomp(spec *specs.Spec) {
	if spec.Linux == nil || spec.Linux.Seccomp == nil {
		return
	}
	s := spec.Linux.Seccomp
	spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: s.DefaultAction, DefaultErrnoRet: s.DefaultErrnoRet}
}

func TestCapabilities(t *testing.T) {
	tests := []struct {
		name       string
		privileged bool
		add, drop  []string
		want       []string // nil: DefaultCapabilities
		wantErr    string
	}{
		{name: "default"},
		{name: "drop all", drop: []string{"ALL"}, want: []string{}},
		{name: "drop all add one", drop: []string{"all"}, add: []string{"net_admin"}, want: []string{"CAP_NET_ADMIN"}},
		{name: "drop two", drop: []string{"CAP_CHOWN", "net_raw"}, want: slices.DeleteFunc(slices.Clone(DefaultCapabilities), func(c string) bool { return c == "CAP_CHOWN" || c == "CAP_NET_RAW" })},
		{name: "add one", add: []string{"Sys_Admin"}, want: append(slices.Clone(DefaultCapabilities), "CAP_SYS_ADMIN")},
		{name: "add wins over drop", add: []string{"CAP_KILL"}, drop: []string{"kill"}, want: DefaultCapabilities},
		{name: "add all", add: []string{"ALL"}, want: AllCapabilities},
		{name: "add all drop one", add: []string{"ALL"}, drop: []string{"SYS_ADMIN"}, want: slices.DeleteFunc(slices.Clone(AllCapabilities), func(c string) bool { return c == "CAP_SYS_ADMIN" })},
		{name: "privileged", privileged: true, want: AllCapabilities},
		{name: "unknown add", add: []string{"NET_ADMN"}, wantErr: `--cap-add "NET_ADMN": unknown capability`},
		{name: "unknown drop", drop: []string{"CAP_FOO"}, wantErr: `--cap-drop "CAP_FOO": unknown capability`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Capabilities(tt.privileged, tt.add, tt.drop)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == nil {
				want = DefaultCapabilities
			}
			if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
				t.Errorf("got %v\nwant %v", got, want)
			}
		})
	}
	if len(AllCapabilities) != 41 {
		t.Errorf("%d capabilities, want 41 (CAP_CHOWN 0 to CAP_CHECKPOINT_RESTORE 40)", len(AllCapabilities))
	}
}

func TestParseDevice(t *testing.T) {
	tests := []struct {
		in      string
		want    DeviceRequest
		wantErr string
	}{
		{in: "/dev/null", want: DeviceRequest{Host: "/dev/null", Container: "/dev/null", Permissions: "rwm"}},
		{in: "/dev/null:/dev/xnull", want: DeviceRequest{Host: "/dev/null", Container: "/dev/xnull", Permissions: "rwm"}},
		{in: "/dev/null:r", want: DeviceRequest{Host: "/dev/null", Container: "/dev/null", Permissions: "r"}},
		{in: "/dev/fuse:/dev/fuse:rw", want: DeviceRequest{Host: "/dev/fuse", Container: "/dev/fuse", Permissions: "rw"}},
		{in: "dev/null", wantErr: "must be absolute"},
		{in: "/dev/null:xnull", wantErr: "must be absolute"},
		{in: "/dev/null:/dev/x:rwx", wantErr: `bad permissions "rwx"`},
		{in: "/dev/null:/dev/x:rr", wantErr: `bad permissions "rr"`},
		{in: "/dev/null:/dev/x:r:w", wantErr: "too many fields"},
		{in: "/dev/null:/dev", wantErr: "not a device path"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDevice(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.in) {
					t.Fatalf("err = %v, want %q naming %q", err, tt.wantErr, tt.in)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Raw = tt.in
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseSeccompProfile(t *testing.T) {
	tests := []struct {
		name, data, wantErr string
	}{
		{"valid", `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"}]}`, ""},
		{"legacy name", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"mount","action":"SCMP_ACT_ERRNO"}]}`, ""},
		{"not json", "{\n\"defaultAction\": SCMP_ACT_ERRNO}", "not a valid seccomp profile: line 2: invalid character"},
		{"empty", "", "not a valid seccomp profile"},
		{"unknown field", `{"defaultAction":"SCMP_ACT_ERRNO","sycalls":[]}`, `unknown field "sycalls"`},
		{"no default", `{"syscalls":[]}`, "no defaultAction"},
		{"unknown default", `{"defaultAction":"SCMP_ACT_MAYBE"}`, `unknown defaultAction "SCMP_ACT_MAYBE"`},
		{"unknown action", `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_PERMIT"}]}`, `syscalls[0] (read): unknown action "SCMP_ACT_PERMIT"`},
		{"no names", `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"action":"SCMP_ACT_ALLOW"}]}`, "syscalls[0] names no system call"},
		{"trailing", `{"defaultAction":"SCMP_ACT_ERRNO"} {}`, "data after the JSON object"},
		{"notify without listener", `{"defaultAction":"SCMP_ACT_NOTIFY"}`, "needs a listenerPath"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSeccompProfile("/etc/my.json", []byte(tt.data))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, `--security-opt "seccomp=/etc/my.json": `) || strings.Contains(msg, "\n") {
				t.Errorf("message %q does not name the file on one line", msg)
			}
		})
	}
}

// genLinux generates a Linux spec with sec for an image running sh.
func genLinux(t *testing.T, user string, sec Security) (*specs.Spec, error) {
	t.Helper()
	return Generate(ocispec.ImageConfig{Cmd: []string{"/bin/sh"}}, testRootfs(t), Options{GOOS: "linux", User: user, Security: sec})
}

func hasSyscall(s *specs.LinuxSeccomp, name string, action specs.LinuxSeccompAction) bool {
	for _, sc := range s.Syscalls {
		if sc.Action == action && len(sc.Args) == 0 && slices.Contains(sc.Names, name) {
			return true
		}
	}
	return false
}

func TestLinuxSecurity(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("seccomp profiles and host devices are made on Linux only")
	}
	tr, fa := true, false
	profile := filepath.Join(t.TempDir(), "profile.json")
	if err := os.WriteFile(profile, []byte(`{"defaultAction":"SCMP_ACT_LOG","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(profile)

	tests := []struct {
		name  string
		user  string
		sec   Security
		check func(t *testing.T, s *specs.Spec)
	}{
		{"default", "", Security{}, func(t *testing.T, s *specs.Spec) {
			sc := s.Linux.Seccomp
			if sc == nil || sc.DefaultAction != specs.ActErrno {
				t.Fatalf("seccomp = %+v, want docker's default (SCMP_ACT_ERRNO)", sc)
			}
			if !hasSyscall(sc, "read", specs.ActAllow) || hasSyscall(sc, "mount", specs.ActAllow) || hasSyscall(sc, "kexec_load", specs.ActAllow) {
				t.Error("the default profile should allow read, and neither mount nor kexec_load without CAP_SYS_ADMIN/CAP_SYS_BOOT")
			}
			if !s.Process.NoNewPrivileges {
				t.Error("no-new-privileges should be on by default")
			}
			if !slices.Equal(s.Process.Capabilities.Effective, DefaultCapabilities) {
				t.Errorf("effective = %v", s.Process.Capabilities.Effective)
			}
			if len(s.Linux.MaskedPaths) == 0 || len(s.Linux.ReadonlyPaths) == 0 {
				t.Error("masked and read-only paths missing")
			}
		}},
		{"cap-add SYS_ADMIN widens seccomp", "", Security{CapAdd: []string{"SYS_ADMIN"}}, func(t *testing.T, s *specs.Spec) {
			if !hasSyscall(s.Linux.Seccomp, "mount", specs.ActAllow) {
				t.Error("with CAP_SYS_ADMIN docker's profile allows mount")
			}
		}},
		{"unconfined", "", Security{Seccomp: SeccompUnconfined}, func(t *testing.T, s *specs.Spec) {
			if s.Linux.Seccomp != nil {
				t.Error("seccomp set with unconfined")
			}
		}},
		{"profile file", "", Security{Seccomp: profile, SeccompProfile: data}, func(t *testing.T, s *specs.Spec) {
			sc := s.Linux.Seccomp
			if sc == nil || sc.DefaultAction != specs.ActLog || !hasSyscall(sc, "mkdir", specs.ActErrno) {
				t.Fatalf("seccomp = %+v, want the file's", sc)
			}
		}},
		{"no-new-privileges=false", "", Security{NoNewPrivileges: &fa}, func(t *testing.T, s *specs.Spec) {
			if s.Process.NoNewPrivileges {
				t.Error("no-new-privileges still on")
			}
		}},
		{"no-new-privileges", "", Security{NoNewPrivileges: &tr}, func(t *testing.T, s *specs.Spec) {
			if !s.Process.NoNewPrivileges {
				t.Error("no-new-privileges off")
			}
		}},
		{"cap-drop ALL", "", Security{CapDrop: []string{"ALL"}}, func(t *testing.T, s *specs.Spec) {
			c := s.Process.Capabilities
			if len(c.Bounding)+len(c.Effective)+len(c.Permitted) != 0 {
				t.Errorf("capabilities = %+v, want none", c)
			}
		}},
		{"non-root user keeps no effective capabilities", "1000", Security{CapAdd: []string{"NET_ADMIN"}}, func(t *testing.T, s *specs.Spec) {
			c := s.Process.Capabilities
			if len(c.Effective) != 0 || !slices.Contains(c.Bounding, "CAP_NET_ADMIN") {
				t.Errorf("capabilities = %+v", c)
			}
		}},
		{"privileged", "", Security{Privileged: true, Seccomp: profile, SeccompProfile: data}, func(t *testing.T, s *specs.Spec) {
			if s.Linux.Seccomp != nil {
				t.Error("privileged container has seccomp")
			}
			all, err := boundingSet()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Process.Capabilities.Effective, all) {
				t.Errorf("effective = %v, want all this process holds, %v", s.Process.Capabilities.Effective, all)
			}
			if len(s.Linux.MaskedPaths)+len(s.Linux.ReadonlyPaths) != 0 {
				t.Error("masked or read-only paths left")
			}
			for _, m := range s.Mounts {
				if (m.Type == "sysfs" || m.Type == "cgroup") && slices.Contains(m.Options, "ro") {
					t.Errorf("%s still read-only", m.Destination)
				}
			}
			if !slices.ContainsFunc(s.Linux.Devices, func(d specs.LinuxDevice) bool {
				return d.Path == "/dev/null" && d.Type == "c" && d.Major == 1 && d.Minor == 3
			}) {
				t.Error("host's /dev/null not among the devices")
			}
			if slices.ContainsFunc(s.Linux.Devices, func(d specs.LinuxDevice) bool {
				return strings.HasPrefix(d.Path, "/dev/pts/") || d.Path == "/dev/console"
			}) {
				t.Error("pseudo-terminals or the console passed")
			}
			if r := s.Linux.Resources.Devices; len(r) != 1 || !r[0].Allow || r[0].Access != "rwm" {
				t.Errorf("device cgroup = %+v, want allow all", r)
			}
		}},
		{"device renamed, read-only", "", Security{Devices: []string{"/dev/null:/dev/xnull:r"}}, func(t *testing.T, s *specs.Spec) {
			if len(s.Linux.Devices) != 1 {
				t.Fatalf("devices = %+v", s.Linux.Devices)
			}
			d := s.Linux.Devices[0]
			if d.Path != "/dev/xnull" || d.Type != "c" || d.Major != 1 || d.Minor != 3 || d.FileMode == nil || *d.FileMode != 0o666 {
				t.Errorf("device = %+v", d)
			}
			r := s.Linux.Resources.Devices
			last := r[len(r)-1]
			if !last.Allow || last.Type != "c" || *last.Major != 1 || *last.Minor != 3 || last.Access != "r" || r[0].Allow {
				t.Errorf("device cgroup = %+v, want deny all then allow c 1:3 r", r)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := genLinux(t, tt.user, tt.sec)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
}

func TestSecurityBadInput(t *testing.T) {
	dir := t.TempDir()
	notDev := filepath.Join(dir, "file")
	os.WriteFile(notDev, nil, 0o644)
	five := 5
	tests := []struct {
		name, goos string
		sec        Security
		wantErr    string
	}{
		{"unknown cap", "linux", Security{CapAdd: []string{"CAP_NOPE"}}, `--cap-add "CAP_NOPE": unknown capability`},
		{"bad profile", "linux", Security{Seccomp: "/x.json", SeccompProfile: []byte("nope")}, `--security-opt "seccomp=/x.json": not a valid seccomp profile`},
		{"missing device", "linux", Security{Devices: []string{"/dev/nonexistent-stockade"}}, `--device "/dev/nonexistent-stockade": /dev/nonexistent-stockade: no such device`},
		{"not a device", "linux", Security{Devices: []string{notDev}}, "is not a device"},
		{"cap on freebsd", "freebsd", Security{CapAdd: []string{"NET_ADMIN"}}, `--cap-add "NET_ADMIN": is for Linux containers only (this container is freebsd)`},
		{"seccomp on freebsd", "freebsd", Security{Seccomp: SeccompUnconfined}, "is for Linux containers only"},
		{"jail param on linux", "linux", Security{JailParams: []string{"allow.mlock"}}, `--jail-param "allow.mlock": is for FreeBSD jails only`},
		{"securelevel on linux", "linux", Security{Securelevel: &five}, `--securelevel "5": is for FreeBSD jails only`},
		{"unknown jail param", "freebsd", Security{JailParams: []string{"allow.mlok=1"}}, `--jail-param "allow.mlok=1": unknown jail parameter "allow.mlok"`},
		{"owned jail param", "freebsd", Security{JailParams: []string{"host.hostname=x"}}, "is set by stockade (use --hostname)"},
		{"bad bool", "freebsd", Security{JailParams: []string{"allow.mlock=maybe"}}, "is a boolean"},
		{"int out of range", "freebsd", Security{JailParams: []string{"enforce_statfs=3"}}, "from 0 to 2"},
		{"int missing", "freebsd", Security{JailParams: []string{"children.max"}}, "needs a value"},
		{"sharing", "freebsd", Security{JailParams: []string{"sysvshm=shared"}}, "wants new, inherit or disable"},
		{"securelevel", "freebsd", Security{Securelevel: &five}, `--securelevel "5": want -1, 0, 1, 2 or 3`},
		{"mount without statfs", "freebsd", Security{JailParams: []string{"allow.mount.nullfs"}}, "needs --jail-param enforce_statfs=1 or 0"},
		{"renamed device in a jail", "freebsd", Security{Devices: []string{"/dev/null:/dev/xnull"}}, "devfs cannot rename"},
		{"device outside /dev in a jail", "freebsd", Security{Devices: []string{"/tmp/x"}}, "want a device under /dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.goos == "linux" && runtime.GOOS != "linux" {
				t.Skip("Linux specs are made on Linux")
			}
			_, err := Generate(ocispec.ImageConfig{Cmd: []string{"/bin/sh"}}, "", Options{GOOS: tt.goos, Security: tt.sec})
			var oe *OptionError
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &oe) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line with %q", err, tt.wantErr)
			}
		})
	}
}

// jailParam finds a parameter the jail runtime passes to jail_set(2).
func jailParam(cfg *jail.JailConfig, kernelName string) (jail.Param, bool) {
	for _, p := range cfg.Params {
		if p.KernelName() == kernelName || p.Name == kernelName && p.Type != jail.ParamBool {
			return p, true
		}
	}
	return jail.Param{}, false
}

func TestJailSecurity(t *testing.T) {
	one, zero := 1, 0
	tests := []struct {
		name    string
		sec     Security
		params  []string          // kernel names the jail runtime must pass
		absent  []string          // kernel names it must not pass
		ann     map[string]string // annotations in the spec
		ruleset string            // the /dev mount's ruleset option
		check   func(t *testing.T, s *specs.Spec)
	}{
		{name: "default", params: []string{"allow.nomlock", "allow.noraw_sockets", "sysvshm=1", "enforce_statfs=2"}, ruleset: "ruleset=4"},
		{name: "allow.mlock", sec: Security{JailParams: []string{"allow.mlock=1"}}, params: []string{"allow.mlock", "allow.noraw_sockets"}},
		{name: "allow.mlock bare", sec: Security{JailParams: []string{"allow.mlock"}}, params: []string{"allow.mlock"}},
		{name: "negated", sec: Security{JailParams: []string{"allow.mlock", "allow.nomlock"}}, params: []string{"allow.nomlock"}},
		{name: "raw sockets true", sec: Security{JailParams: []string{"allow.raw_sockets=true"}}, params: []string{"allow.raw_sockets"}},
		{name: "reserved_ports off", sec: Security{JailParams: []string{"allow.reserved_ports=0"}}, params: []string{"allow.noreserved_ports"}},
		{name: "sysvipc shares the host's", sec: Security{JailParams: []string{"allow.sysvipc=1"}}, params: []string{"sysvmsg=2", "sysvsem=2", "sysvshm=2"}},
		{name: "sysvshm disable", sec: Security{JailParams: []string{"sysvshm=disable"}}, params: []string{"sysvshm=0", "sysvmsg=1"}},
		{name: "mount nullfs", sec: Security{JailParams: []string{"enforce_statfs=1", "allow.mount.nullfs=1"}}, params: []string{"enforce_statfs=1", "allow.mount", "allow.mount.nullfs"}},
		{name: "devfs ruleset", sec: Security{DevfsRuleset: &one}, ruleset: "ruleset=1"},
		{name: "devfs_ruleset param", sec: Security{JailParams: []string{"devfs_ruleset=10"}}, ruleset: "ruleset=10"},
		{name: "securelevel", sec: Security{Securelevel: &one}, ann: map[string]string{"org.freebsd.jail.param.securelevel": "1"}, params: []string{"securelevel=1"}},
		{name: "children.max", sec: Security{JailParams: []string{"children.max=4"}}, ann: map[string]string{"org.freebsd.jail.param.children.max": "4"}, params: []string{"children.max=4"}},
		{name: "host.hostid", sec: Security{JailParams: []string{"host.hostid=4000000000"}}, params: []string{"host.hostid=4000000000"}},
		{name: "osrelease", sec: Security{JailParams: []string{"osrelease=13.2-RELEASE"}}, params: []string{"osrelease=13.2-RELEASE"}},
		{name: "ip4.saddrsel off", sec: Security{JailParams: []string{"ip4.saddrsel=0"}}, params: []string{"ip4.nosaddrsel"}},
		{name: "allow.nfsd", sec: Security{JailParams: []string{"allow.nfsd"}}, ann: map[string]string{"org.freebsd.jail.allow.nfsd": "true"}, params: []string{"allow.nfsd"}, absent: []string{"allow.vmm", "allow.novmm"}},
		{name: "privileged", sec: Security{Privileged: true},
			params:  []string{"allow.mlock", "allow.raw_sockets", "allow.chflags", "allow.set_hostname", "allow.socket_af", "allow.quotas", "allow.reserved_ports", "enforce_statfs=2"},
			absent:  []string{"allow.mount"},
			ruleset: "ruleset=0"},
		{name: "privileged less one", sec: Security{Privileged: true, JailParams: []string{"allow.mlock=0"}, DevfsRuleset: &zero}, params: []string{"allow.nomlock", "allow.raw_sockets"}, ruleset: "ruleset=0"},
		{name: "device", sec: Security{Devices: []string{"/dev/pf"}}, check: func(t *testing.T, s *specs.Spec) {
			if len(s.FreeBSD.Devices) != 1 || s.FreeBSD.Devices[0].Path != "pf" {
				t.Errorf("devices = %+v", s.FreeBSD.Devices)
			}
			steps, err := jail.PlanMounts(s, "/bundle", "/bundle/rootfs")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(steps, func(m jail.MountStep) bool { return len(m.Devices) == 1 && m.Devices[0].Path == "pf" }) {
				t.Error("the runtime does not unhide pf")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Generate(ocispec.ImageConfig{Cmd: []string{"/bin/sh"}}, "", Options{GOOS: "freebsd", Rootfs: "/r", Security: tt.sec})
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.ann {
				if s.Annotations[k] != v {
					t.Errorf("annotation %s = %q, want %q", k, s.Annotations[k], v)
				}
			}
			if tt.ruleset != "" {
				i := slices.IndexFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/dev" })
				if i < 0 || !slices.Equal(s.Mounts[i].Options, []string{tt.ruleset}) {
					t.Errorf("/dev mount = %+v, want %s", s.Mounts, tt.ruleset)
				}
			}
			if tt.check != nil {
				tt.check(t, s)
			}
			cfg, err := jail.JailParams(s, "c1", "/r")
			if err != nil {
				t.Fatalf("the jail runtime refuses the spec: %v", err)
			}
			for _, want := range tt.params {
				name, _, hasVal := strings.Cut(want, "=")
				p, ok := jailParam(cfg, name)
				if !ok || hasVal && p.String() != want {
					t.Errorf("jail parameter %s missing (have %v)", want, cfg.Params)
				}
			}
			for _, no := range tt.absent {
				if p, ok := jailParam(cfg, no); ok {
					t.Errorf("jail parameter %s passed: %v", no, p)
				}
			}
		})
	}
}

// TestJailParamTablesAgree checks bundle's table of --jail-param against
// what the jail runtime accepts in annotations: every parameter bundle
// carries in an annotation is one the runtime takes, with the same type.
func TestJailParamTablesAgree(t *testing.T) {
	types := map[jailParamType][]jail.ParamType{
		jailBool: {jail.ParamBool}, jailInt: {jail.ParamInt, jail.ParamULong}, jailString: {jail.ParamString},
	}
	for name, info := range jailParams {
		switch info.route {
		case routeParamAnnot:
			ex, ok := jail.ExtraParams[name]
			if !ok {
				t.Errorf("%s: bundle sends it as an annotation the jail runtime refuses", name)
				continue
			}
			if !slices.Contains(types[info.typ], ex.Type) {
				t.Errorf("%s: bundle's type %d, the runtime's %d", name, info.typ, ex.Type)
			}
			if info.typ == jailInt && (info.min != ex.Min || info.max != ex.Max) {
				t.Errorf("%s: bundle's range [%d, %d], the runtime's [%d, %d]", name, info.min, info.max, ex.Min, ex.Max)
			}
		case routeAllowAnnot:
			if !slices.Contains(jail.ExtraAllowFlags, strings.TrimPrefix(name, "allow.")) {
				t.Errorf("%s: bundle sends it as an allow annotation the jail runtime refuses", name)
			}
		}
	}
	for name := range jail.ExtraParams {
		if info, ok := jailParams[name]; !ok || info.route != routeParamAnnot {
			t.Errorf("%s: the runtime takes it in an annotation, --jail-param does not send it there", name)
		}
	}
}

func TestJailParamNames(t *testing.T) {
	names := JailParamNames()
	for _, want := range []string{"allow.mlock", "allow.raw_sockets", "allow.sysvipc", "securelevel", "devfs_ruleset", "enforce_statfs", "allow.mount.zfs"} {
		if !slices.Contains(names, want) {
			t.Errorf("%s not accepted", want)
		}
	}
	for _, owned := range []string{"name", "path", "host.hostname", "vnet"} {
		if slices.Contains(names, owned) {
			t.Errorf("%s listed, but stockade sets it", owned)
		}
	}
}

// BenchmarkGenerateSeccomp measures what docker's default profile adds to
// making a Linux container's spec (built for this host at each create).
func BenchmarkGenerateSeccomp(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("seccomp profiles are made on Linux only")
	}
	img := ocispec.ImageConfig{Cmd: []string{"/bin/sh"}}
	for _, bc := range []struct {
		name string
		sec  Security
	}{
		{"default", Security{}},
		{"unconfined", Security{Seccomp: SeccompUnconfined}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Generate(img, "", Options{GOOS: "linux", Security: bc.sec}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
