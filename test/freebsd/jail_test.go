//go:build freebsd

package freebsd

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestJailParams checks that the jail has the parameters the spec asked
// for, as jls(8) reports them.
func TestJailParams(t *testing.T) {
	e := setup(t)
	id := newID(t)
	statfs := 1
	e.create(t, id, e.bundle(t, func(s *specs.Spec) {
		s.Hostname = "params-host"
		s.FreeBSD.Jail.SysVShm = "new"
		s.FreeBSD.Jail.SysVMsg = "disable"
		s.FreeBSD.Jail.SysVSem = "inherit"
		s.FreeBSD.Jail.EnforceStatfs = &statfs
		s.FreeBSD.Jail.Allow = &specs.FreeBSDJailAllow{RawSockets: true}
	}))
	tests := []struct {
		param string
		want  string // the token jls -n prints
	}{
		{"host.hostname", "host.hostname=params-host"},
		{"host", "host=new"},
		{"sysvshm", "sysvshm=new"},
		{"sysvmsg", "sysvmsg=disable"},
		{"sysvsem", "sysvsem=inherit"},
		{"enforce_statfs", "enforce_statfs=1"},
		{"ip4", "ip4=inherit"},
		{"ip6", "ip6=disable"},
		{"persist", "persist"},
		{"allow.raw_sockets", "allow.raw_sockets"},
		{"allow.mlock", "allow.nomlock"},
		{"path", "path=" + e.rootfs},
	}
	var params []string
	for _, tt := range tests {
		params = append(params, tt.param)
	}
	got := jailParams(t, id, params...)
	for _, tt := range tests {
		if !slices.Contains(got, tt.want) {
			t.Errorf("jls -n %s: want %s, got %v", tt.param, tt.want, got)
		}
	}
	e.must(t, "start", id)
	if out := e.exec(t, id, "/bin/hostname"); strings.TrimSpace(out) != "params-host" {
		t.Errorf("hostname in the jail %q, want params-host", out)
	}
}

// TestIP4Alias checks freebsd.jail.ip4Addr with an interface: the address
// is added to lo0 while the container lives, is the jail's, and goes with
// it.
func TestIP4Alias(t *testing.T) {
	e := setup(t)
	const addr = "127.0.0.42"
	if hasInet(host(t, "ifconfig", "lo0"), addr) {
		t.Fatalf("%s is on lo0 already; remove it first", addr)
	}
	id := newID(t)
	e.create(t, id, e.bundle(t, func(s *specs.Spec) {
		s.FreeBSD.Jail.Ip4 = ""
		s.FreeBSD.Jail.Ip4Addr = []string{addr}
		s.FreeBSD.Jail.Interface = "lo0"
	}))
	if out := host(t, "ifconfig", "lo0"); !hasInet(out, addr) {
		t.Errorf("host lo0 lacks %s:\n%s", addr, out)
	}
	if got := jailParams(t, id, "ip4.addr"); !slices.Equal(got, []string{"ip4.addr=" + addr}) {
		t.Errorf("jls -n ip4.addr: %v, want ip4.addr=%s", got, addr)
	}
	e.must(t, "start", id)
	out := e.exec(t, id, "/sbin/ifconfig", "lo0")
	if !hasInet(out, addr) {
		t.Errorf("lo0 in the jail lacks %s:\n%s", addr, out)
	}
	if hasInet(out, "127.0.0.1") {
		t.Errorf("the jail sees the host's 127.0.0.1:\n%s", out)
	}
	e.must(t, "delete", "--force", id)
	if out := host(t, "ifconfig", "lo0"); hasInet(out, addr) {
		t.Errorf("%s left on lo0 after delete:\n%s", addr, out)
	}
}

// TestVnetEpair moves one end of an epair into a vnet jail and checks that
// it comes back to the host with delete.
func TestVnetEpair(t *testing.T) {
	e := setup(t)
	r := command(t, "ifconfig", "epair", "create")
	if r.err != nil {
		t.Skipf("no epair (kldload if_epair): %v", r)
	}
	a := strings.TrimSpace(r.stdout)
	bside := strings.TrimSuffix(a, "a") + "b"
	t.Cleanup(func() { command(t, "ifconfig", a, "destroy") })
	id := newID(t)
	e.create(t, id, e.bundle(t, func(s *specs.Spec) {
		s.FreeBSD.Jail.Ip4, s.FreeBSD.Jail.Ip6 = "", ""
		s.FreeBSD.Jail.Vnet = "new"
		s.FreeBSD.Jail.VnetInterfaces = []string{bside}
	}))
	if got := jailParams(t, id, "vnet"); !slices.Equal(got, []string{"vnet=new"}) {
		t.Errorf("jls -n vnet: %v, want vnet=new", got)
	}
	if r := command(t, "ifconfig", bside); r.err == nil {
		t.Errorf("%s is still on the host while the jail has it", bside)
	}
	e.must(t, "start", id)
	if out := e.exec(t, id, "/sbin/ifconfig", "-l"); !slices.Contains(strings.Fields(out), bside) {
		t.Errorf("%s not in the jail's vnet: %q", bside, out)
	}
	e.must(t, "delete", "--force", id)
	// The interface returns to the host's vnet asynchronously.
	eventually(t, 5*time.Second, bside+" back on the host", func() (bool, string) {
		r := command(t, "ifconfig", bside)
		return r.err == nil, r.String()
	})
}

// TestRctl checks that org.freebsd.rctl.* annotations become rctl rules on
// the jail, that a maxproc deny rule is enforced, and that the rules go
// with the container.
func TestRctl(t *testing.T) {
	e := setup(t)
	if !racctEnabled() {
		t.Skip("kern.racct.enable is 0 (set it in /boot/loader.conf and reboot)")
	}
	id := newID(t)
	e.create(t, id, e.bundle(t, func(s *specs.Spec) {
		s.Annotations["org.freebsd.rctl.maxproc"] = "deny=5"
		s.Annotations["org.freebsd.rctl.pseudoterminals"] = "deny=3"
	}))
	rules := []string{"jail:" + id + ":maxproc:deny=5", "jail:" + id + ":pseudoterminals:deny=3"}
	out := strings.Fields(host(t, "rctl"))
	for _, rule := range rules {
		if !slices.Contains(out, rule) {
			t.Errorf("rule %s missing: %v", rule, out)
		}
	}

	// The container's sleep, the shell and three of its sleeps make five
	// processes; the next fork must fail.
	e.must(t, "start", id)
	r := e.run(t, "exec", id, "/bin/sh", "-c", `i=0; while [ $i -lt 10 ]; do sleep 60 & i=$((i+1)); done; echo all started`)
	if r.err == nil || strings.Contains(r.stdout, "all started") || !strings.Contains(strings.ToLower(r.stderr), "fork") {
		t.Errorf("maxproc deny=5 did not stop the sixth process:\n%v", r)
	}
	if procs := jailProcesses(t, e.jid(t, id)); len(procs) > 5 {
		t.Errorf("%d processes in the jail under maxproc deny=5: %v", len(procs), procs)
	}

	e.must(t, "delete", "--force", id)
	if out := host(t, "rctl"); strings.Contains(out, "jail:"+id+":") {
		t.Errorf("rules left after delete:\n%s", out)
	}
}

// TestHooks checks when the hooks run and the state they read on their
// standard input.
func TestHooks(t *testing.T) {
	e := setup(t)
	id := newID(t)
	dir := t.TempDir()
	file := func(kind string) string { return filepath.Join(dir, kind+".json") }
	hook := func(kind string) []specs.Hook {
		return []specs.Hook{{
			Path: "/bin/sh",
			Args: []string{"sh", "-c", `cat > "$0"`, file(kind)},
			Env:  []string{"PATH=/bin:/usr/bin"},
		}}
	}
	e.create(t, id, e.bundle(t, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{
			CreateRuntime:   hook("createRuntime"),
			CreateContainer: hook("createContainer"),
			StartContainer:  hook("startContainer"),
			Poststart:       hook("poststart"),
			Poststop:        hook("poststop"),
		}
	}))
	// ran checks which hooks have run, and returns the state each read.
	ran := func(when string, want, notYet []string) map[string]specs.State {
		t.Helper()
		got := map[string]specs.State{}
		for _, kind := range want {
			data, err := os.ReadFile(file(kind))
			if err != nil {
				t.Errorf("%s: the %s hook did not run: %v", when, kind, err)
				continue
			}
			var st specs.State
			if err := json.Unmarshal(data, &st); err != nil {
				t.Errorf("%s: the %s hook read %q: %v", when, kind, data, err)
				continue
			}
			if st.ID != id {
				t.Errorf("%s: the %s hook read the state of %q, want %q", when, kind, st.ID, id)
			}
			got[kind] = st
		}
		for _, kind := range notYet {
			if _, err := os.Stat(file(kind)); err == nil {
				t.Errorf("%s: the %s hook ran already", when, kind)
			}
		}
		return got
	}
	ran("after create", []string{"createRuntime", "createContainer"}, []string{"startContainer", "poststart", "poststop"})
	pid := e.state(t, id).Pid
	e.must(t, "start", id)
	got := ran("after start", []string{"startContainer", "poststart"}, []string{"poststop"})
	if st := got["poststart"]; st.Status != specs.StateRunning || st.Pid != pid {
		t.Errorf("poststart read status %q pid %d, want running %d", st.Status, st.Pid, pid)
	}
	e.must(t, "delete", "--force", id)
	got = ran("after delete", []string{"poststop"}, nil)
	if st := got["poststop"]; st.Status != specs.StateStopped {
		t.Errorf("poststop read status %q, want stopped", st.Status)
	}
}

// TestLinuxImage runs a Linux root file system (STOCKADE_LINUX_ROOTFS)
// under the linuxulator, with linprocfs, linsysfs and a tmpfs /tmp.
func TestLinuxImage(t *testing.T) {
	e := setup(t)
	lroot := os.Getenv("STOCKADE_LINUX_ROOTFS")
	if lroot == "" {
		t.Skip("STOCKADE_LINUX_ROOTFS is not set")
	}
	if r := command(t, "sysctl", "-n", "compat.linux.osrelease"); r.err != nil {
		t.Skipf("the linuxulator is not loaded (service linux onestart): %v", r)
	}
	const release = "5.10.0-stockade"
	id := newID(t)
	e.create(t, id, writeBundle(t, lroot, func(s *specs.Spec) {
		s.FreeBSD.Devices = nil
		s.Mounts = append(s.Mounts[:2],
			specs.Mount{Destination: "/proc", Type: "linprocfs", Source: "linprocfs"},
			specs.Mount{Destination: "/sys", Type: "linsysfs", Source: "linsysfs"},
			// Inside the devfs /dev: on the "shm" directory the
			// linuxulator adds to devfs, which the runtime unhides.
			specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"mode=1777"}})
		// Without this the bundle is not a Linux image's, and the jail
		// gets no linux.* parameters.
		s.Annotations["org.opencontainers.image.os"] = "linux"
		s.Annotations["org.freebsd.jail.linux.osrelease"] = release
	}))
	e.must(t, "start", id)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"/bin/uname", "-s"}, "Linux"},
		{[]string{"/bin/uname", "-r"}, release},
	} {
		if out := e.exec(t, id, tt.args...); strings.TrimSpace(out) != tt.want {
			t.Errorf("%s: %q, want %s", strings.Join(tt.args, " "), out, tt.want)
		}
	}
	if out := e.exec(t, id, "/bin/cat", "/proc/version"); !strings.Contains(out, "Linux") || !strings.Contains(out, release) {
		t.Errorf("/proc/version: %q, want Linux %s", out, release)
	}
	if got := jailParams(t, id, "linux.osname"); !slices.Equal(got, []string{"linux.osname=Linux"}) {
		t.Errorf("jls -n linux.osname: %v", got)
	}
	// A file on the tmpfs is gone with the container.
	if out := e.exec(t, id, "/bin/sh", "-c", "echo x > /dev/shm/"+id+" && cat /dev/shm/"+id); strings.TrimSpace(out) != "x" {
		t.Errorf("tmpfs /dev/shm: %q", out)
	}
	e.must(t, "delete", "--force", id)
	if _, err := os.Lstat(filepath.Join(lroot, "dev", "shm", id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("/dev/shm/%s was not on a tmpfs: it outlived the container (%v)", id, err)
	}
}
