package bundle

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var targets = []string{"linux", "freebsd"}

func testImage(cmd ...string) ocispec.ImageConfig {
	return ocispec.ImageConfig{Cmd: cmd}
}

func TestProcessArgs(t *testing.T) {
	img := ocispec.ImageConfig{Entrypoint: []string{"/entry", "-x"}, Cmd: []string{"serve", "--port=80"}}
	tests := []struct {
		name string
		img  ocispec.ImageConfig
		opts Options
		want []string
	}{
		{"entrypoint and cmd", img, Options{}, []string{"/entry", "-x", "serve", "--port=80"}},
		{"run args replace cmd", img, Options{Args: []string{"debug"}}, []string{"/entry", "-x", "debug"}},
		{"--entrypoint drops the image cmd", img, Options{Entrypoint: []string{"/bin/sh"}, EntrypointSet: true}, []string{"/bin/sh"}},
		{"--entrypoint with run args", img, Options{Entrypoint: []string{"/bin/sh"}, EntrypointSet: true, Args: []string{"-c", "id"}}, []string{"/bin/sh", "-c", "id"}},
		{"empty --entrypoint with args", img, Options{EntrypointSet: true, Args: []string{"/bin/ls", "/"}}, []string{"/bin/ls", "/"}},
		{"cmd only", testImage("/bin/sh"), Options{}, []string{"/bin/sh"}},
		{"run args only", ocispec.ImageConfig{}, Options{Args: []string{"/bin/echo", "hi"}}, []string{"/bin/echo", "hi"}},
		{"entrypoint only", ocispec.ImageConfig{Entrypoint: []string{"/init"}}, Options{}, []string{"/init"}},
		{"Entrypoint without EntrypointSet is ignored", img, Options{Entrypoint: []string{"/ignored"}}, []string{"/entry", "-x", "serve", "--port=80"}},
		{"empty arguments are kept", testImage("/bin/echo", "", "x"), Options{}, []string{"/bin/echo", "", "x"}},
		{"--init runs the command", img, Options{Init: "/usr/libexec/stockade-init"}, []string{InitPath, "--", "/entry", "-x", "serve", "--port=80"}},
		{"--init with run args", testImage("/bin/sh"), Options{Init: "/x", Args: []string{"/bin/id"}}, []string{InitPath, "--", "/bin/id"}},
	}
	for _, goos := range targets {
		for _, tt := range tests {
			t.Run(goos+"/"+tt.name, func(t *testing.T) {
				tt.opts.GOOS = goos
				spec, err := Generate(tt.img, "", tt.opts)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(spec.Process.Args, tt.want) {
					t.Errorf("args %q, want %q", spec.Process.Args, tt.want)
				}
				// Command, which a create records before the spec is
				// generated, says the same.
				cmd, err := Command(tt.img, tt.opts)
				if err != nil || !slices.Equal(cmd, tt.want) {
					t.Errorf("Command: %q, %v; want %q", cmd, err, tt.want)
				}
			})
		}
	}
}

func TestNoCommand(t *testing.T) {
	img := ocispec.ImageConfig{Cmd: []string{"/bin/sh"}}
	cases := map[string]struct {
		img  ocispec.ImageConfig
		opts Options
	}{
		"empty image":                   {ocispec.ImageConfig{}, Options{}},
		"empty --entrypoint clears all": {img, Options{EntrypointSet: true}},
		"empty executable":              {testImage(""), Options{}},
		"empty run argument":            {img, Options{Args: []string{""}}},
	}
	for _, goos := range targets {
		for name, c := range cases {
			t.Run(goos+"/"+name, func(t *testing.T) {
				c.opts.GOOS = goos
				_, err := Generate(c.img, "", c.opts)
				if !errors.Is(err, ErrNoCommand) {
					t.Fatalf("got %v, want ErrNoCommand", err)
				}
				if err.Error() != "no command specified" {
					t.Errorf("message %q", err)
				}
				if _, err := Command(c.img, c.opts); !errors.Is(err, ErrNoCommand) {
					t.Errorf("Command: got %v, want ErrNoCommand", err)
				}
			})
		}
	}
}

func TestEnv(t *testing.T) {
	rootfs := testRootfs(t)
	tests := []struct {
		name    string
		imageOS string
		img     []string
		opts    Options
		want    []string
	}{
		{
			name: "defaults",
			want: []string{"PATH=" + DefaultLinuxPath, "HOME=/root"},
		},
		{
			name:    "freebsd image default PATH",
			imageOS: "freebsd",
			want:    []string{"PATH=" + DefaultFreeBSDPath, "HOME=/root"},
		},
		{
			name: "image env, PATH replaced in place",
			img:  []string{"LANG=C.UTF-8", "PATH=/opt/bin:/bin", "EMPTY="},
			want: []string{"PATH=/opt/bin:/bin", "LANG=C.UTF-8", "EMPTY=", "HOME=/root"},
		},
		{
			name: "-e overrides by key and appends",
			img:  []string{"A=1", "B=2"},
			opts: Options{Env: []string{"B=two", "C=3", "A=", "PATH=/x"}},
			want: []string{"PATH=/x", "A=", "B=two", "C=3", "HOME=/root"},
		},
		{
			name: "later -e wins",
			opts: Options{Env: []string{"X=1", "X=2"}},
			want: []string{"PATH=" + DefaultLinuxPath, "X=2", "HOME=/root"},
		},
		{
			name: "values may hold =",
			opts: Options{Env: []string{"OPTS=a=b=c"}},
			want: []string{"PATH=" + DefaultLinuxPath, "OPTS=a=b=c", "HOME=/root"},
		},
		{
			name: "hostname and terminal",
			opts: Options{Hostname: "web", Terminal: true},
			want: []string{"PATH=" + DefaultLinuxPath, "HOSTNAME=web", "TERM=xterm", "HOME=/root"},
		},
		{
			name: "image and -e override HOSTNAME, TERM, HOME",
			img:  []string{"TERM=dumb", "HOME=/image"},
			opts: Options{Hostname: "web", Terminal: true, Env: []string{"HOSTNAME=mine"}},
			want: []string{"PATH=" + DefaultLinuxPath, "HOSTNAME=mine", "TERM=dumb", "HOME=/image"},
		},
		{
			name: "HOME of the user",
			opts: Options{User: "bob"},
			want: []string{"PATH=" + DefaultLinuxPath, "HOME=/home/bob"},
		},
		{
			name: "HOME of an unlisted uid",
			opts: Options{User: "4242"},
			want: []string{"PATH=" + DefaultLinuxPath, "HOME=/"},
		},
		{
			name: "image entry without = unsets, empty key dropped",
			img:  []string{"A=1", "B=2", "A", "=weird"},
			want: []string{"PATH=" + DefaultLinuxPath, "B=2", "HOME=/root"},
		},
		{
			name: "image entry without = can unset PATH",
			img:  []string{"PATH"},
			want: []string{"HOME=/root"},
		},
	}
	for _, goos := range targets {
		for _, tt := range tests {
			if tt.imageOS == "freebsd" && goos != "freebsd" {
				continue
			}
			t.Run(goos+"/"+tt.name, func(t *testing.T) {
				tt.opts.GOOS, tt.opts.ImageOS = goos, tt.imageOS
				if tt.imageOS == "" && goos == "freebsd" {
					tt.opts.ImageOS = "linux" // keep Linux's PATH in the expectations
				}
				img := ocispec.ImageConfig{Cmd: []string{"/bin/sh"}, Env: tt.img}
				spec, err := Generate(img, rootfs, tt.opts)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(spec.Process.Env, tt.want) {
					t.Errorf("env\n got %q\nwant %q", spec.Process.Env, tt.want)
				}
			})
		}
	}
}

func TestCwd(t *testing.T) {
	tests := []struct {
		imgDir, opt, want string
	}{
		{"", "", "/"},
		{"/srv", "", "/srv"},
		{"/srv/", "", "/srv"},
		{"/srv", "/app", "/app"},
		{"", "/app/../data/", "/data"},
		{"rel", "/abs", "/abs"}, // -w wins before the image's is looked at
	}
	for _, goos := range targets {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%q/%q", goos, tt.imgDir, tt.opt), func(t *testing.T) {
				img := ocispec.ImageConfig{Cmd: []string{"/bin/sh"}, WorkingDir: tt.imgDir}
				spec, err := Generate(img, "", Options{GOOS: goos, Workdir: tt.opt})
				if err != nil {
					t.Fatal(err)
				}
				if spec.Process.Cwd != tt.want {
					t.Errorf("cwd %q, want %q", spec.Process.Cwd, tt.want)
				}
			})
		}
	}
}

func TestUserInSpec(t *testing.T) {
	rootfs := testRootfs(t)
	for _, goos := range targets {
		t.Run(goos, func(t *testing.T) {
			img := ocispec.ImageConfig{Cmd: []string{"/bin/sh"}, User: "nginx"}
			spec, err := Generate(img, rootfs, Options{GOOS: goos})
			if err != nil {
				t.Fatal(err)
			}
			want := specs.User{UID: 101, GID: 101, AdditionalGids: []uint32{101}}
			if u := spec.Process.User; u.UID != want.UID || u.GID != want.GID || !slices.Equal(u.AdditionalGids, want.AdditionalGids) {
				t.Errorf("image user: %+v, want %+v", u, want)
			}
			spec, err = Generate(img, rootfs, Options{GOOS: goos, User: "bob:staff"})
			if err != nil {
				t.Fatal(err)
			}
			if u := spec.Process.User; u.UID != 1000 || u.GID != 50 {
				t.Errorf("-u wins over the image's user: %+v", u)
			}
			_, err = Generate(img, rootfs, Options{GOOS: goos, User: "bob:nogroup"})
			checkErr(t, err, `user "bob:nogroup": no such group in the image's /etc/group`)
			img.User = "ghost"
			_, err = Generate(img, rootfs, Options{GOOS: goos})
			checkErr(t, err, `user "ghost": no such user in the image's /etc/passwd`)
		})
	}
}

// TestGenerateResolvedUser: what GenerateUser returns, passed back as
// Options.ResolvedUser, gives the same spec without the root's files (the
// engine keeps it per image and user); a spec generated from it does not
// share its slices; a lookup that failed returns no UserInfo.
func TestGenerateResolvedUser(t *testing.T) {
	rootfs := testRootfs(t)
	for _, goos := range targets {
		for _, tt := range []struct {
			name, imageUser, user string
			env                   []string
		}{
			{"image's user", "nginx", "", nil},
			{"-u name", "", "bob", nil},
			{"-u name:group", "nginx", "bob:staff", nil},
			{"-u uid:gid", "", "4000:4001", nil},
			{"root by default", "", "", nil},
			{"HOME from -e", "", "bob", []string{"HOME=/elsewhere"}},
		} {
			t.Run(goos+"/"+tt.name, func(t *testing.T) {
				img := ocispec.ImageConfig{Cmd: []string{"/bin/sh"}, User: tt.imageUser}
				opts := Options{GOOS: goos, User: tt.user, Env: tt.env, Rootfs: "/r"}
				want, info, err := GenerateUser(img, rootfs, opts)
				if err != nil {
					t.Fatal(err)
				}
				if info.User.UID != want.Process.User.UID || info.User.GID != want.Process.User.GID {
					t.Errorf("UserInfo %+v, spec's user %+v", info, want.Process.User)
				}
				opts.ResolvedUser = &info
				got, again, err := GenerateUser(img, "", opts)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("from the kept lookup:\n%+v\nfrom the root's files:\n%+v", got.Process, want.Process)
				}
				if !reflect.DeepEqual(again, info) {
					t.Errorf("UserInfo from the kept lookup %+v, want %+v", again, info)
				}
				got.Process.User.AdditionalGids[0] = 9999
				if info.User.AdditionalGids[0] == 9999 {
					t.Error("the spec shares its additional gids with the kept lookup")
				}
			})
		}
	}
	img := ocispec.ImageConfig{Cmd: []string{"/bin/sh"}}
	if _, info, err := GenerateUser(img, rootfs, Options{GOOS: "linux", User: "ghost"}); err == nil || !reflect.DeepEqual(info, UserInfo{}) {
		t.Errorf("unknown user: %+v, %v", info, err)
	}
	// A kept lookup is what counts: the root is not read.
	kept := &UserInfo{User: specs.User{UID: 77, GID: 88, AdditionalGids: []uint32{88}}, Home: "/kept"}
	spec, err := Generate(img, rootfs, Options{GOOS: "linux", User: "bob", ResolvedUser: kept})
	if err != nil {
		t.Fatal(err)
	}
	if u := spec.Process.User; u.UID != 77 || u.GID != 88 || !slices.Contains(spec.Process.Env, "HOME=/kept") {
		t.Errorf("with a kept lookup: user %+v, env %q", u, spec.Process.Env)
	}
}

func TestLinuxCapabilities(t *testing.T) {
	rootfs := testRootfs(t)
	for _, user := range []string{"", "root", "0:50", "bob", "4242"} {
		t.Run(user, func(t *testing.T) {
			spec, err := Generate(testImage("/bin/sh"), rootfs, Options{GOOS: "linux", User: user})
			if err != nil {
				t.Fatal(err)
			}
			c := spec.Process.Capabilities
			if c == nil || !slices.Equal(c.Bounding, DefaultCapabilities) {
				t.Fatalf("bounding set %+v", c)
			}
			if spec.Process.User.UID == 0 {
				if !slices.Equal(c.Effective, DefaultCapabilities) || !slices.Equal(c.Permitted, DefaultCapabilities) {
					t.Errorf("root: %+v", c)
				}
			} else if c.Effective != nil || c.Permitted != nil || c.Inheritable != nil || c.Ambient != nil {
				t.Errorf("non-root user has capabilities beyond the bounding set: %+v", c)
			}
			if len(DefaultCapabilities) != 14 {
				t.Errorf("%d default capabilities, docker has 14", len(DefaultCapabilities))
			}
		})
	}
}

func namespaces(s *specs.Spec) []specs.LinuxNamespaceType {
	var out []specs.LinuxNamespaceType
	for _, n := range s.Linux.Namespaces {
		if n.Path != "" {
			return nil
		}
		out = append(out, n.Type)
	}
	return out
}

func TestNetwork(t *testing.T) {
	all := []specs.LinuxNamespaceType{specs.PIDNamespace, specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.MountNamespace, specs.CgroupNamespace}
	noNet := slices.DeleteFunc(slices.Clone(all), func(n specs.LinuxNamespaceType) bool { return n == specs.NetworkNamespace })
	tests := []struct {
		network string
		linux   []specs.LinuxNamespaceType
		ip      specs.FreeBSDSharing
	}{
		{"", all, specs.FreeBSDShareDisable},
		{"none", all, specs.FreeBSDShareDisable},
		{"host", noNet, specs.FreeBSDShareInherit},
	}
	for _, tt := range tests {
		t.Run("linux/"+tt.network, func(t *testing.T) {
			spec, err := Generate(testImage("/bin/sh"), "", Options{GOOS: "linux", Network: tt.network})
			if err != nil {
				t.Fatal(err)
			}
			if got := namespaces(spec); !slices.Equal(got, tt.linux) {
				t.Errorf("namespaces %v, want %v", got, tt.linux)
			}
			if spec.FreeBSD != nil {
				t.Error("linux spec has a freebsd section")
			}
		})
		t.Run("freebsd/"+tt.network, func(t *testing.T) {
			spec, err := Generate(testImage("/bin/sh"), "", Options{GOOS: "freebsd", Network: tt.network})
			if err != nil {
				t.Fatal(err)
			}
			j := spec.FreeBSD.Jail
			if j.Ip4 != tt.ip || j.Ip6 != tt.ip || j.Vnet != "" || len(j.Ip4Addr)+len(j.Ip6Addr) != 0 {
				t.Errorf("jail %+v, want ip4/ip6 %q", j, tt.ip)
			}
			if spec.Linux != nil {
				t.Error("freebsd spec has a linux section")
			}
		})
	}
	for _, goos := range targets {
		for _, bad := range []string{"bridge", "Host", "container:abc", "vnet"} {
			_, err := Generate(testImage("/bin/sh"), "", Options{GOOS: goos, Network: bad})
			checkErr(t, err, fmt.Sprintf(`--network %q: not supported (want host or none)`, bad))
		}
	}
}

func TestFreeBSDJailDefaults(t *testing.T) {
	spec, err := Generate(testImage("/bin/sh"), "", Options{GOOS: "freebsd", Hostname: "jailed"})
	if err != nil {
		t.Fatal(err)
	}
	j := spec.FreeBSD.Jail
	if j.Host != specs.FreeBSDShareNew || spec.Hostname != "jailed" {
		t.Errorf("host %q hostname %q", j.Host, spec.Hostname)
	}
	if j.EnforceStatfs == nil || *j.EnforceStatfs != 2 {
		t.Errorf("enforceStatfs %v", j.EnforceStatfs)
	}
	if j.Allow != nil {
		t.Errorf("allow %+v, want none", j.Allow)
	}
	if j.SysVMsg != specs.FreeBSDShareNew || j.SysVSem != specs.FreeBSDShareNew || j.SysVShm != specs.FreeBSDShareNew {
		t.Errorf("sysv %q %q %q", j.SysVMsg, j.SysVSem, j.SysVShm)
	}
	p := spec.Process
	if p.Capabilities != nil || p.Rlimits != nil || p.NoNewPrivileges {
		t.Errorf("Linux process fields on freebsd: %+v", p)
	}
}

func TestLinuxDefaults(t *testing.T) {
	spec, err := Generate(testImage("/bin/sh"), "", Options{GOOS: "linux"})
	if err != nil {
		t.Fatal(err)
	}
	p := spec.Process
	if !p.NoNewPrivileges {
		t.Error("noNewPrivileges not set")
	}
	if len(p.Rlimits) != 1 || p.Rlimits[0] != (specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}) {
		t.Errorf("rlimits %+v", p.Rlimits)
	}
	l := spec.Linux
	for _, want := range []string{"/proc/kcore", "/proc/keys", "/sys/firmware", "/proc/scsi"} {
		if !slices.Contains(l.MaskedPaths, want) {
			t.Errorf("%s not masked", want)
		}
	}
	if !slices.Contains(l.ReadonlyPaths, "/proc/sys") || !slices.Contains(l.ReadonlyPaths, "/proc/sysrq-trigger") {
		t.Errorf("readonly paths %v", l.ReadonlyPaths)
	}
	if r := l.Resources; r == nil || len(r.Devices) != 1 || r.Devices[0].Allow || r.Devices[0].Access != "rwm" ||
		r.Memory != nil || r.CPU != nil || r.Pids != nil {
		t.Errorf("resources %+v", l.Resources)
	}
	if len(l.Devices) != 0 {
		t.Errorf("devices %+v: left to runc", l.Devices)
	}
	if spec.Root.Path != "rootfs" || spec.Root.Readonly {
		t.Errorf("root %+v", spec.Root)
	}
	// crun before 1.9 refuses any version from 1.2 on.
	if spec.Version != "1.1.0" {
		t.Errorf("version %q, want 1.1.0", spec.Version)
	}
}

func mountDests(s *specs.Spec) []string {
	var out []string
	for _, m := range s.Mounts {
		out = append(out, m.Destination)
	}
	return out
}

func findMount(s *specs.Spec, dst string) *specs.Mount {
	for i := range s.Mounts {
		if s.Mounts[i].Destination == dst {
			return &s.Mounts[i]
		}
	}
	return nil
}

func TestDefaultMounts(t *testing.T) {
	tests := []struct {
		goos, imageOS string
		want          []string
	}{
		{"linux", "", []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"}},
		{"linux", "linux", []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"}},
		{"freebsd", "", []string{"/dev", "/dev/fd"}},
		{"freebsd", "freebsd", []string{"/dev", "/dev/fd"}},
		{"freebsd", "linux", []string{"/dev", "/dev/fd", "/dev/shm", "/proc", "/sys"}},
	}
	for _, tt := range tests {
		t.Run(tt.goos+"/"+tt.imageOS, func(t *testing.T) {
			spec, err := Generate(testImage("/bin/sh"), "", Options{GOOS: tt.goos, ImageOS: tt.imageOS})
			if err != nil {
				t.Fatal(err)
			}
			if got := mountDests(spec); !slices.Equal(got, tt.want) {
				t.Errorf("mounts %v, want %v", got, tt.want)
			}
			if tt.goos != "freebsd" {
				return
			}
			dev := findMount(spec, "/dev")
			if dev.Type != "devfs" || !slices.Equal(dev.Options, []string{"ruleset=4"}) {
				t.Errorf("/dev %+v", dev)
			}
			fd := findMount(spec, "/dev/fd")
			if fd.Type != "fdescfs" {
				t.Errorf("/dev/fd %+v", fd)
			}
			if linrdlnk := slices.Contains(fd.Options, "linrdlnk"); linrdlnk != (tt.imageOS == "linux") {
				t.Errorf("/dev/fd options %v for a %q image", fd.Options, tt.imageOS)
			}
			if tt.imageOS == "linux" {
				for dst, typ := range map[string]string{"/proc": "linprocfs", "/sys": "linsysfs", "/dev/shm": "tmpfs"} {
					if m := findMount(spec, dst); m.Type != typ {
						t.Errorf("%s is %q, want %q", dst, m.Type, typ)
					}
				}
			}
		})
	}
}

func TestUserMounts(t *testing.T) {
	opts := Options{
		Volumes: []string{"/srv/data:/data/deep/x:ro", "/srv/logs:/var/log/", "/srv/cfg:/etc/app:rw"},
		Tmpfs:   []string{"/run:size=16m,exec", "/tmp", "/dev/shm:size=1g"},
	}
	t.Run("linux", func(t *testing.T) {
		opts := opts
		opts.GOOS = "linux"
		spec, err := Generate(testImage("/bin/sh"), "", opts)
		if err != nil {
			t.Fatal(err)
		}
		want := []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
			{Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "size=16m", "exec"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"noexec", "nosuid", "nodev"}},
			{Destination: "/var/log", Type: "bind", Source: "/srv/logs", Options: []string{"rbind", "rprivate"}},
			{Destination: "/etc/app", Type: "bind", Source: "/srv/cfg", Options: []string{"rbind", "rprivate"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "tmpfs", Options: []string{"noexec", "nosuid", "nodev", "size=1g"}},
			{Destination: "/data/deep/x", Type: "bind", Source: "/srv/data", Options: []string{"rbind", "rprivate", "ro"}},
		}
		compareMounts(t, spec.Mounts, want)
	})
	t.Run("freebsd", func(t *testing.T) {
		opts := opts
		opts.GOOS = "freebsd"
		spec, err := Generate(testImage("/bin/sh"), "", opts)
		if err != nil {
			t.Fatal(err)
		}
		want := []specs.Mount{
			{Destination: "/dev", Type: "devfs", Source: "devfs", Options: []string{"ruleset=4"}},
			{Destination: "/dev/fd", Type: "fdescfs", Source: "fdescfs"},
			{Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "size=16m", "exec"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"noexec", "nosuid"}},
			{Destination: "/var/log", Type: "nullfs", Source: "/srv/logs"},
			{Destination: "/etc/app", Type: "nullfs", Source: "/srv/cfg"},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "tmpfs", Options: []string{"noexec", "nosuid", "size=1g"}},
			{Destination: "/data/deep/x", Type: "nullfs", Source: "/srv/data", Options: []string{"ro"}},
		}
		compareMounts(t, spec.Mounts, want)
	})
	t.Run("freebsd linux image: user mount replaces /proc", func(t *testing.T) {
		spec, err := Generate(testImage("/bin/sh"), "", Options{GOOS: "freebsd", ImageOS: "linux", Volumes: []string{"/p:/proc:ro"}})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := mountDests(spec), []string{"/dev", "/dev/fd", "/dev/shm", "/sys", "/proc"}; !slices.Equal(got, want) {
			t.Errorf("mounts %v, want %v", got, want)
		}
		if m := findMount(spec, "/proc"); m.Type != "nullfs" {
			t.Errorf("/proc %+v", m)
		}
	})
}

func compareMounts(t *testing.T, got, want []specs.Mount) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d mounts, want %d:\n got %v\nwant %v", len(got), len(want), got, want)
		return
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Destination != w.Destination || g.Type != w.Type || g.Source != w.Source || !slices.Equal(g.Options, w.Options) {
			t.Errorf("mount %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func TestMergeOptions(t *testing.T) {
	tests := []struct {
		defaults, user, want []string
	}{
		{[]string{"noexec", "nosuid", "nodev"}, nil, []string{"noexec", "nosuid", "nodev"}},
		{[]string{"noexec", "nosuid", "nodev"}, []string{"exec"}, []string{"nosuid", "nodev", "exec"}},
		{[]string{"noexec", "nosuid", "nodev"}, []string{"suid", "dev", "noexec"}, []string{"suid", "dev", "noexec"}},
		{[]string{"mode=1777", "size=64m"}, []string{"size=1g"}, []string{"mode=1777", "size=1g"}},
		{[]string{"rw"}, []string{"ro"}, []string{"ro"}},
		{nil, []string{"size=1m", "size=2m"}, []string{"size=2m"}},
		{[]string{"noatime"}, []string{"atime", "uid=5"}, []string{"atime", "uid=5"}},
	}
	for _, tt := range tests {
		if got := mergeOptions(tt.defaults, tt.user); !slices.Equal(got, tt.want) {
			t.Errorf("mergeOptions(%v, %v) = %v, want %v", tt.defaults, tt.user, got, tt.want)
		}
	}
}

func TestResources(t *testing.T) {
	opts := Options{Memory: "512m", CPUs: "1.5", PidsLimit: 100}
	t.Run("linux", func(t *testing.T) {
		o := opts
		o.GOOS = "linux"
		spec, err := Generate(testImage("/bin/sh"), "", o)
		if err != nil {
			t.Fatal(err)
		}
		r := spec.Linux.Resources
		if r.Memory == nil || *r.Memory.Limit != 512<<20 || r.Memory.Swap != nil {
			t.Errorf("memory %+v", r.Memory)
		}
		if r.CPU == nil || *r.CPU.Quota != 150000 || *r.CPU.Period != 100000 {
			t.Errorf("cpu %+v", r.CPU)
		}
		if r.Pids == nil || *r.Pids.Limit != 100 {
			t.Errorf("pids %+v", r.Pids)
		}
		for k := range spec.Annotations {
			if strings.HasPrefix(k, AnnotationRctlPrefix) {
				t.Errorf("rctl annotation %s on linux", k)
			}
		}
	})
	t.Run("freebsd", func(t *testing.T) {
		o := opts
		o.GOOS = "freebsd"
		spec, err := Generate(testImage("/bin/sh"), "", o)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"org.freebsd.rctl.memoryuse": "deny=536870912",
			"org.freebsd.rctl.pcpu":      "deny=150",
			"org.freebsd.rctl.maxproc":   "deny=100",
		}
		if fmt.Sprint(spec.Annotations) != fmt.Sprint(want) {
			t.Errorf("annotations %v, want %v", spec.Annotations, want)
		}
	})
	tests := []struct {
		cpus     string
		quota    int64
		pcpu     string
		pids     int64
		linuxPid *int64
	}{
		{cpus: "0.01", quota: 1000, pcpu: "deny=1"},
		{cpus: "0.015", quota: 1500, pcpu: "deny=2"}, // rounded up
		{cpus: "2", quota: 200000, pcpu: "deny=200"},
		{cpus: "0.333333333", quota: 33333, pcpu: "deny=34"},
		{cpus: "64", quota: 6400000, pcpu: "deny=6400"},
	}
	for _, tt := range tests {
		t.Run("cpus="+tt.cpus, func(t *testing.T) {
			spec, err := Generate(testImage("/bin/sh"), "", Options{GOOS: "linux", CPUs: tt.cpus})
			if err != nil {
				t.Fatal(err)
			}
			if q := *spec.Linux.Resources.CPU.Quota; q != tt.quota {
				t.Errorf("quota %d, want %d", q, tt.quota)
			}
			spec, err = Generate(testImage("/bin/sh"), "", Options{GOOS: "freebsd", CPUs: tt.cpus})
			if err != nil {
				t.Fatal(err)
			}
			if got := spec.Annotations[AnnotationRctlPcpu]; got != tt.pcpu {
				t.Errorf("pcpu %q, want %q", got, tt.pcpu)
			}
		})
	}
	t.Run("pids-limit -1", func(t *testing.T) {
		spec, err := Generate(testImage("/bin/sh"), "", Options{GOOS: "linux", PidsLimit: -1})
		if err != nil {
			t.Fatal(err)
		}
		if p := spec.Linux.Resources.Pids; p == nil || *p.Limit != -1 {
			t.Errorf("pids %+v", p)
		}
		spec, err = Generate(testImage("/bin/sh"), "", Options{GOOS: "freebsd", PidsLimit: -1})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := spec.Annotations[AnnotationRctlMaxProc]; ok || spec.Annotations != nil {
			t.Errorf("annotations %v: -1 sets no limit", spec.Annotations)
		}
	})
	t.Run("minimum memory", func(t *testing.T) {
		for _, goos := range targets {
			if _, err := Generate(testImage("/bin/sh"), "", Options{GOOS: goos, Memory: "6m"}); err != nil {
				t.Errorf("%s: 6m: %v", goos, err)
			}
		}
	})
}

func TestAnnotations(t *testing.T) {
	img := ocispec.ImageConfig{Cmd: []string{"/bin/sh"}, Labels: map[string]string{"maintainer": "x", "org.opencontainers.image.title": "t"}}
	for _, goos := range targets {
		t.Run(goos, func(t *testing.T) {
			ann := map[string]string{"com.example.a": "1", "b": ""}
			spec, err := Generate(img, "", Options{GOOS: goos, Annotations: ann})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(spec.Annotations) != fmt.Sprint(ann) {
				t.Errorf("annotations %v, want %v (labels are not copied)", spec.Annotations, ann)
			}
			spec.Annotations["c"] = "changed"
			if _, ok := ann["c"]; ok {
				t.Error("the spec shares the caller's map")
			}
			spec, err = Generate(img, "", Options{GOOS: goos})
			if err != nil {
				t.Fatal(err)
			}
			if spec.Annotations != nil {
				t.Errorf("annotations %v, want none", spec.Annotations)
			}
		})
	}
	t.Run("freebsd: extra rctl annotations pass", func(t *testing.T) {
		ann := map[string]string{"org.freebsd.rctl.openfiles": "deny=1024", "org.freebsd.rctl.vmemoryuse": "deny=1g"}
		spec, err := Generate(img, "", Options{GOOS: "freebsd", Annotations: ann, Memory: "64m"})
		if err != nil {
			t.Fatal(err)
		}
		if spec.Annotations["org.freebsd.rctl.openfiles"] != "deny=1024" || spec.Annotations[AnnotationRctlMemoryUse] != "deny=67108864" {
			t.Errorf("annotations %v", spec.Annotations)
		}
	})
	t.Run("linux: rctl annotations are not checked", func(t *testing.T) {
		ann := map[string]string{"org.freebsd.rctl.memoryuse": "whatever"}
		if _, err := Generate(img, "", Options{GOOS: "linux", Annotations: ann, Memory: "64m"}); err != nil {
			t.Error(err)
		}
	})
}

func TestRootAndHostname(t *testing.T) {
	rootfs := testRootfs(t)
	for _, goos := range targets {
		t.Run(goos, func(t *testing.T) {
			spec, err := Generate(testImage("/bin/sh"), rootfs, Options{GOOS: goos})
			if err != nil {
				t.Fatal(err)
			}
			if spec.Root.Path != rootfs || spec.Root.Readonly || spec.Hostname != "" {
				t.Errorf("root %+v hostname %q", spec.Root, spec.Hostname)
			}
			spec, err = Generate(testImage("/bin/sh"), rootfs, Options{GOOS: goos, Rootfs: "rootfs", ReadOnly: true, Hostname: "a-b.example", Terminal: true})
			if err != nil {
				t.Fatal(err)
			}
			if spec.Root.Path != "rootfs" || !spec.Root.Readonly || spec.Hostname != "a-b.example" || !spec.Process.Terminal {
				t.Errorf("root %+v hostname %q terminal %v", spec.Root, spec.Hostname, spec.Process.Terminal)
			}
			if spec.Process.ConsoleSize != nil {
				t.Error("console size is the caller's")
			}
		})
	}
}

func TestDefaultGOOS(t *testing.T) {
	spec, err := Generate(testImage("/bin/sh"), "", Options{ImageOS: "linux"})
	if runtime.GOOS != "linux" && runtime.GOOS != "freebsd" {
		if err == nil {
			t.Error("no error on an unsupported host OS")
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if (runtime.GOOS == "linux") != (spec.Linux != nil) || (runtime.GOOS == "freebsd") != (spec.FreeBSD != nil) {
		t.Errorf("spec for the wrong OS: linux %v freebsd %v", spec.Linux != nil, spec.FreeBSD != nil)
	}
}

// TestGenerateErrors checks every error of Generate on both OSes: one line
// naming the option.
func TestGenerateErrors(t *testing.T) {
	img := testImage("/bin/sh")
	tests := []struct {
		name    string
		img     *ocispec.ImageConfig
		opts    Options
		only    string // "linux" or "freebsd": only for that target
		wantErr string
	}{
		{name: "relative -w", opts: Options{Workdir: "rel"}, wantErr: `-w "rel": must be absolute`},
		{name: "-w with NUL", opts: Options{Workdir: "/a\x00b"}, wantErr: `-w "/a\x00b": contains a NUL byte`},
		{name: "relative image workdir", img: &ocispec.ImageConfig{Cmd: []string{"/bin/sh"}, WorkingDir: "app"}, wantErr: `image working directory "app": must be absolute`},
		{name: "-e empty key", opts: Options{Env: []string{"=x"}}, wantErr: `-e "=x": empty variable name`},
		{name: "-e bare key", opts: Options{Env: []string{"HOME"}}, wantErr: `-e "HOME": want KEY=VALUE (a bare KEY must be resolved by the caller)`},
		{name: "-e empty", opts: Options{Env: []string{""}}, wantErr: `-e "": want KEY=VALUE`},
		{name: "-e NUL", opts: Options{Env: []string{"A=b\x00c"}}, wantErr: `-e "A=b\x00c": contains a NUL byte`},
		{name: "-e space in key", opts: Options{Env: []string{"A B=c"}}, wantErr: `-e "A B=c": variable name contains white space`},
		{name: "image env NUL", img: &ocispec.ImageConfig{Cmd: []string{"/bin/sh"}, Env: []string{"A=\x00"}}, wantErr: `image env "A=\x00": contains a NUL byte`},
		{name: "-v four fields", opts: Options{Volumes: []string{"a:b:c:d"}}, wantErr: `-v "a:b:c:d": too many fields (want SRC:DST[:ro|rw])`},
		{name: "-v relative dst", opts: Options{Volumes: []string{"/a:b"}}, wantErr: `-v "/a:b": destination: "b" must be an absolute path`},
		{name: "-v on /", opts: Options{Volumes: []string{"/a:/"}}, wantErr: `-v "/a:/": destination: cannot mount over "/"`},
		{name: "-v twice", opts: Options{Volumes: []string{"/a:/data", "/b:/data/"}}, wantErr: `-v "/b:/data/": duplicate mount point "/data" (also in -v "/a:/data")`},
		{name: "--tmpfs over -v", opts: Options{Volumes: []string{"/a:/run"}, Tmpfs: []string{"/run"}}, wantErr: `--tmpfs "/run": duplicate mount point "/run" (also in -v "/a:/run")`},
		{name: "--tmpfs relative", opts: Options{Tmpfs: []string{"run"}}, wantErr: `--tmpfs "run": destination: "run" must be an absolute path`},
		{name: "--tmpfs empty option", opts: Options{Tmpfs: []string{"/run:"}}, wantErr: `--tmpfs "/run:": empty mount option`},
		{name: "--memory bad unit", opts: Options{Memory: "12q"}, wantErr: `--memory "12q": unknown unit "q" (want b, k, m, g, t or p)`},
		{name: "--memory not a number", opts: Options{Memory: "lots"}, wantErr: `--memory "lots": not a size (want e.g. 512m or 2g)`},
		{name: "--memory too small", opts: Options{Memory: "1m"}, wantErr: `--memory "1m": below the minimum of 6MiB`},
		{name: "--cpus bad", opts: Options{CPUs: "many"}, wantErr: `--cpus "many": not a number of CPUs (want e.g. 1.5)`},
		{name: "--cpus too small", opts: Options{CPUs: "0.001"}, wantErr: `--cpus "0.001": must be at least 0.01`},
		{name: "--pids-limit", opts: Options{PidsLimit: -2}, wantErr: `--pids-limit "-2": must be positive, or -1 for no limit`},
		{name: "--network", opts: Options{Network: "bridge"}, wantErr: `--network "bridge": not supported (want host or none)`},
		{name: "--hostname underscore", opts: Options{Hostname: "bad_name"}, wantErr: `--hostname "bad_name": only letters, digits, '-' and '.' are allowed`},
		{name: "--hostname dash", opts: Options{Hostname: "-x"}, wantErr: `--hostname "-x": a label starts or ends with '-'`},
		{name: "--hostname empty label", opts: Options{Hostname: "a..b"}, wantErr: `--hostname "a..b": empty label`},
		{name: "--hostname long", opts: Options{Hostname: strings.Repeat("a", 65)}, wantErr: `longer than 64 characters`},
		{name: "user", opts: Options{User: "bob"}, wantErr: `user "bob": no such user in the image's /etc/passwd (the image has no /etc/passwd)`},
		{name: "user range", opts: Options{User: "-1"}, wantErr: `user "-1": id -1 out of range`},
		{name: "command NUL", opts: Options{Args: []string{"/bin/echo", "a\x00"}}, wantErr: `command "a\x00": argument contains a NUL byte`},
		{name: "annotation empty key", opts: Options{Annotations: map[string]string{"": "v"}}, wantErr: `--annotation "=v": empty key`},
		{name: "image os", opts: Options{ImageOS: "windows"}, wantErr: `image os "windows" is not supported (want linux or freebsd)`},
		{name: "freebsd image on linux", only: "linux", opts: Options{ImageOS: "freebsd"}, wantErr: `image os "freebsd" cannot run on linux`},
		{name: "rctl conflict memory", only: "freebsd", opts: Options{Memory: "1g", Annotations: map[string]string{AnnotationRctlMemoryUse: "deny=1"}},
			wantErr: `--memory "1g": conflicts with the annotation org.freebsd.rctl.memoryuse`},
		{name: "rctl conflict cpus", only: "freebsd", opts: Options{CPUs: "1", Annotations: map[string]string{AnnotationRctlPcpu: "deny=1"}},
			wantErr: `--cpus "1": conflicts with the annotation org.freebsd.rctl.pcpu`},
		{name: "rctl conflict pids", only: "freebsd", opts: Options{PidsLimit: 5, Annotations: map[string]string{AnnotationRctlMaxProc: "deny=1"}},
			wantErr: `--pids-limit "5": conflicts with the annotation org.freebsd.rctl.maxproc`},
		{name: "rctl bad value", only: "freebsd", opts: Options{Annotations: map[string]string{"org.freebsd.rctl.openfiles": "1024"}},
			wantErr: `--annotation "org.freebsd.rctl.openfiles=1024": want ACTION=AMOUNT, e.g. deny=512m`},
		{name: "rctl bad amount", only: "freebsd", opts: Options{Annotations: map[string]string{"org.freebsd.rctl.openfiles": "deny=1;rm"}},
			wantErr: `bad amount "1;rm"`},
		{name: "rctl bad resource", only: "freebsd", opts: Options{Annotations: map[string]string{"org.freebsd.rctl.": "deny=1"}},
			wantErr: `--annotation "org.freebsd.rctl.=deny=1": org.freebsd.rctl. must be followed by an rctl resource name`},
		{name: "rctl resource injection", only: "freebsd", opts: Options{Annotations: map[string]string{"org.freebsd.rctl.x:y": "deny=1"}},
			wantErr: `must be followed by an rctl resource name`},
	}
	for _, goos := range targets {
		for _, tt := range tests {
			if tt.only != "" && tt.only != goos {
				continue
			}
			t.Run(goos+"/"+tt.name, func(t *testing.T) {
				i := img
				if tt.img != nil {
					i = *tt.img
				}
				tt.opts.GOOS = goos
				spec, err := Generate(i, "", tt.opts)
				if spec != nil {
					t.Error("a spec along with an error")
				}
				checkErr(t, err, tt.wantErr)
				if !strings.HasPrefix(tt.wantErr, "image os") {
					var oe *OptionError
					if !errors.As(err, &oe) {
						t.Errorf("%v is not an *OptionError", err)
					}
				}
			})
		}
	}
	_, err := Generate(img, "", Options{GOOS: "windows"})
	checkErr(t, err, `target os "windows" is not supported (want linux or freebsd)`)
}

// Generate must not panic or misbehave on odd inputs.
func TestGenerateOddInputs(t *testing.T) {
	inputs := []string{"", ":", "::", ":::", "/", "\x00", "a\x00:/b", "../..", "/..", "\n", "=", "==", "-", "0x10", "1e9", "💥"}
	for _, goos := range targets {
		for _, s := range inputs {
			opts := Options{
				GOOS: goos, Args: []string{s}, Env: []string{s}, Volumes: []string{s}, Tmpfs: []string{s},
				Workdir: s, User: s, Hostname: s, Memory: s, CPUs: s, Network: s, ImageOS: s,
				Annotations: map[string]string{s: s},
			}
			if _, err := Generate(ocispec.ImageConfig{Cmd: []string{s}, User: s, WorkingDir: s, Env: []string{s}}, "", opts); err == nil {
				t.Errorf("%s: %q accepted everywhere", goos, s)
			}
		}
	}
}
