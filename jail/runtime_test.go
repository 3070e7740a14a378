package jail

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/ociruntime"
)

// testBundle writes a bundle whose spec has devfs (with a device),
// fdescfs, a read-only nullfs, an address on lo1 and a memory limit.
func testBundle(t testing.TB, edit func(*specs.Spec)) (bundle, rootfs, data string) {
	t.Helper()
	bundle = t.TempDir()
	rootfs = filepath.Join(bundle, "rootfs")
	data = filepath.Join(bundle, "data")
	for _, d := range []string{rootfs, data} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mode := os.FileMode(0o700)
	spec := &specs.Spec{
		Version:  specs.Version,
		Root:     &specs.Root{Path: "rootfs"},
		Hostname: "box",
		Process:  &specs.Process{Args: []string{"/bin/sh"}, Cwd: "/", Env: []string{"PATH=/bin"}},
		Mounts: []specs.Mount{
			{Destination: "/dev", Type: "devfs", Source: "devfs", Options: []string{"ruleset=4"}},
			{Destination: "/dev/fd", Type: "fdescfs", Source: "fdescfs"},
			{Destination: "/data", Type: "nullfs", Source: "data", Options: []string{"ro"}},
		},
		Annotations: map[string]string{"org.freebsd.rctl.memoryuse": "deny=1048576"},
		FreeBSD: &specs.FreeBSD{
			Devices: []specs.FreeBSDDevice{{Path: "pf", Mode: &mode}},
			Jail: &specs.FreeBSDJail{Host: "new", Interface: "lo1", Ip4Addr: []string{"10.0.0.5"},
				Ip6: "disable", SysVShm: "new"},
		},
	}
	if edit != nil {
		edit(spec)
	}
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return bundle, rootfs, data
}

func happyCalls(rootfs, data string) []string {
	return []string{
		"nmount fstype=devfs fspath=" + rootfs + "/dev from=devfs ruleset=4 flags=0x0",
		"devfs -m " + rootfs + "/dev rule apply path pf unhide",
		"devfs -m " + rootfs + "/dev rule apply path pf mode 0700",
		"nmount fstype=fdescfs fspath=" + rootfs + "/dev/fd from=fdescfs flags=0x0",
		"nmount fstype=nullfs fspath=" + rootfs + "/data target=" + data + " flags=0x1",
		"jail_set create name=c1 path=" + rootfs + " persist host=1 host.hostname=box ip4=1 ip4.addr=10.0.0.5 ip6=0 sysvshm=1 enforce_statfs=2 " +
			"allow.noset_hostname allow.noraw_sockets allow.nochflags allow.noquotas allow.nosocket_af allow.nomlock allow.nomount",
		"ifconfig lo1 inet 10.0.0.5/32 alias",
		"rctl_add jail:c1:memoryuse:deny=1048576",
		"start_init jid=7 args=[/bin/sh] fifo=true",
	}
}

func create(t *testing.T, r *Runtime, bundle string) error {
	t.Helper()
	return r.Create(context.Background(), "c1", ociruntime.CreateOpts{Bundle: bundle, PidFile: filepath.Join(t.TempDir(), "pid")})
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	k := newFake()
	root := t.TempDir()
	r := New(root, k, nil)
	r.KillWait = 0
	bundle, rootfs, data := testBundle(t, nil)
	if err := create(t, r, bundle); err != nil {
		t.Fatal(err)
	}
	if got, want := k.log(), happyCalls(rootfs, data); !slices.Equal(got, want) {
		t.Fatalf("create calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if fi, err := os.Stat(filepath.Join(rootfs, "dev/fd")); err != nil || !fi.IsDir() {
		t.Errorf("mount point /dev/fd not made: %v", err)
	}
	if err := create(t, r, bundle); !errors.Is(err, ociruntime.ErrExists) {
		t.Errorf("second create: %v", err)
	}
	st, err := r.State(ctx, "c1")
	if err != nil || st.Status != specs.StateCreated || st.Pid != 1000 || st.Annotations[AnnotationJID] != "7" || st.Bundle != bundle {
		t.Fatalf("state after create: %+v, %v", st, err)
	}
	if _, err := r.Exec(ctx, "c1", ociruntime.ExecOpts{Process: &specs.Process{Args: []string{"ls"}, Cwd: "/"}}); !errors.Is(err, ociruntime.ErrNotRunning) {
		t.Errorf("exec in a created container: %v", err)
	}
	if err := r.Start(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if st, _ := r.State(ctx, "c1"); st.Status != specs.StateRunning {
		t.Errorf("after start: %s", st.Status)
	}
	if err := r.Start(ctx, "c1"); !errors.Is(err, ociruntime.ErrRunning) {
		t.Errorf("second start: %v", err)
	}
	k.reset()
	k.exit = 3
	code, err := r.Exec(ctx, "c1", ociruntime.ExecOpts{Process: &specs.Process{Args: []string{"ls"}, Cwd: "/tmp"}})
	if err != nil || code != 3 {
		t.Errorf("exec: %d, %v", code, err)
	}
	if p := k.plans[len(k.plans)-1]; p.JID != 7 || p.Fifo != "" || p.Cwd != "/tmp" {
		t.Errorf("exec plan: %+v", p)
	}
	if err := r.Delete(ctx, "c1", false); !errors.Is(err, ociruntime.ErrRunning) {
		t.Errorf("delete running: %v", err)
	}
	k.reset()
	k.jailPs = []int{1000, 1005}
	if err := r.Kill(ctx, "c1", syscall.SIGTERM, true); err != nil {
		t.Fatal(err)
	}
	if got, want := k.log(), []string{"kill 1000 15", "kill 1005 15"}; !slices.Equal(got, want) {
		t.Errorf("kill --all: %q", got)
	}
	list, err := r.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != "c1" {
		t.Errorf("list: %+v %v", list, err)
	}
	k.reset()
	if err := r.Delete(ctx, "c1", true); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"kill 1000 9", "kill 1005 9",
		"rctl_remove jail:c1:memoryuse:deny=1048576",
		"ifconfig lo1 inet 10.0.0.5 -alias",
		"jail_remove 7",
		"jail_get 7",
		"unmount " + rootfs + "/data",
		"unmount " + rootfs + "/dev/fd",
		"unmount " + rootfs + "/dev",
	}
	if got := k.log(); !slices.Equal(got, want) {
		t.Errorf("delete calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := r.State(ctx, "c1"); !errors.Is(err, ociruntime.ErrNotFound) {
		t.Errorf("state after delete: %v", err)
	}
	if err := r.Kill(ctx, "c1", syscall.SIGTERM, false); !errors.Is(err, ociruntime.ErrNotFound) {
		t.Errorf("kill after delete: %v", err)
	}
}

// undoOf returns the call that releases what a successful call made, or "".
func undoOf(call string) string {
	switch {
	case strings.HasPrefix(call, "nmount "):
		return "unmount " + regexp.MustCompile(`fspath=(\S+)`).FindStringSubmatch(call)[1]
	case strings.HasPrefix(call, "jail_set create"):
		return "jail_remove 7"
	case strings.HasPrefix(call, "ifconfig ") && strings.HasSuffix(call, " alias"):
		f := strings.Fields(call)
		return "ifconfig " + f[1] + " " + f[2] + " " + strings.Split(f[3], "/")[0] + " -alias"
	case strings.HasPrefix(call, "ifconfig ") && strings.Contains(call, " vnet "):
		f := strings.Fields(call)
		return "ifconfig " + f[1] + " -vnet " + f[3]
	case strings.HasPrefix(call, "rctl_add "):
		return "rctl_remove " + strings.TrimPrefix(call, "rctl_add ")
	case strings.HasPrefix(call, "start_init"):
		return "kill 1000 9"
	}
	return ""
}

// Every call of Create fails in turn: what was made before is released in
// reverse, and no state is left.
func TestCreateRollback(t *testing.T) {
	bundle, rootfs, data := testBundle(t, nil)
	testCreateRollback(t, bundle, happyCalls(rootfs, data))
}

// The same for a jail whose parameters need kernel modules: allow.mount
// of tmpfs and nullfs, and a Linux image.
func TestCreateRollbackModules(t *testing.T) {
	bundle, rootfs, data := testBundle(t, func(s *specs.Spec) {
		s.Annotations[AnnotationImageOS] = "linux"
		s.FreeBSD.Jail.EnforceStatfs = intp(1)
		s.FreeBSD.Jail.Allow = &specs.FreeBSDJailAllow{Mount: []string{"tmpfs", "nullfs"}}
	})
	calls := []string{"kldload linux linux64", "kldload allow.mount.tmpfs tmpfs", "kldload allow.mount.nullfs nullfs"}
	for _, c := range happyCalls(rootfs, data) {
		if strings.HasPrefix(c, "jail_set create ") {
			c = strings.Replace(c, " sysvshm=1 ", " sysvshm=1 linux=1 linux.osname=Linux linux.osrelease=5.15.0 ", 1)
			c = strings.Replace(c, "enforce_statfs=2", "enforce_statfs=1", 1)
			c = strings.Replace(c, "allow.nomount", "allow.mount allow.mount.tmpfs allow.mount.nullfs", 1)
		}
		calls = append(calls, c)
	}
	k := newFake()
	if err := create(t, New(t.TempDir(), k, nil), bundle); err != nil {
		t.Fatal(err)
	}
	if got := k.log(); !slices.Equal(got, calls) {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(calls, "\n"))
	}
	testCreateRollback(t, bundle, calls)
}

func testCreateRollback(t *testing.T, bundle string, calls []string) {
	t.Helper()
	for i, failing := range calls {
		k := newFake()
		k.failOn[failing] = errors.New("boom")
		root := t.TempDir()
		r := New(root, k, nil)
		err := create(t, r, bundle)
		if err == nil || !strings.Contains(err.Error(), "boom") {
			t.Errorf("failing %q: err %v", failing, err)
			continue
		}
		want := slices.Clone(calls[:i+1])
		removed := false
		for j := i - 1; j >= 0; j-- {
			u := undoOf(calls[j])
			if strings.HasPrefix(u, "unmount ") && removed {
				// Before the first unmount, Delete looks for the
				// dying jail.
				want = append(want, "jail_get 7")
				removed = false
			}
			if u == "jail_remove 7" {
				removed = true
			}
			if u != "" {
				want = append(want, u)
			}
		}
		if got := k.log(); !slices.Equal(got, want) {
			t.Errorf("failing %q:\n%s\nwant:\n%s", failing, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if ids, _ := r.store.ids(); len(ids) != 0 {
			t.Errorf("failing %q: state left: %v", failing, ids)
		}
	}
}

// The brief's example, spelled out: the third nmount fails.
func TestCreateRollbackThirdMount(t *testing.T) {
	bundle, rootfs, _ := testBundle(t, nil)
	k := newFake()
	k.failOn["nmount#3"] = errors.New("EPERM")
	r := New(t.TempDir(), k, nil)
	if err := create(t, r, bundle); err == nil || !strings.Contains(err.Error(), "mount nullfs on /data: EPERM") {
		t.Fatalf("err %v", err)
	}
	got := k.log()[5:]
	want := []string{"unmount " + rootfs + "/dev/fd", "unmount " + rootfs + "/dev"}
	if !slices.Equal(got, want) {
		t.Errorf("rollback %q, want %q", got, want)
	}
}

func TestCreateVnetAndParent(t *testing.T) {
	bundle, rootfs, _ := testBundle(t, func(s *specs.Spec) {
		s.Mounts = nil
		s.FreeBSD = &specs.FreeBSD{Jail: &specs.FreeBSDJail{Vnet: "new", VnetInterfaces: []string{"epair0b"}}}
		s.Annotations = map[string]string{AnnotationParentJail: "pod"}
		s.Hostname = ""
	})
	k := newFake()
	r := New(t.TempDir(), k, nil)
	if err := create(t, r, bundle); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"jail_set create name=pod.c1 path=" + rootfs + " persist vnet=1 enforce_statfs=2 allow.noset_hostname allow.noraw_sockets allow.nochflags allow.noquotas allow.nosocket_af allow.nomlock allow.nomount",
		"ifconfig epair0b vnet 7",
		"start_init jid=7 args=[/bin/sh] fifo=true",
	}
	if got := k.log(); !slices.Equal(got, want) {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	k.reset()
	if err := r.Delete(context.Background(), "c1", false); err != nil {
		t.Fatal(err)
	}
	want = []string{"kill 1000 9", "ifconfig epair0b -vnet 7", "jail_remove 7"}
	if got := k.log(); !slices.Equal(got, want) {
		t.Errorf("delete calls %q, want %q", got, want)
	}
}

func TestCreateRacctOff(t *testing.T) {
	bundle, _, _ := testBundle(t, nil)
	k := newFake()
	k.failOn["rctl_add#1"] = ErrRacctDisabled
	err := create(t, New(t.TempDir(), k, nil), bundle)
	if !errors.Is(err, ErrRacctDisabled) || !strings.Contains(err.Error(), "kern.racct.enable=1") {
		t.Errorf("err %v", err)
	}
}

func TestCreateInvalidTouchesNothing(t *testing.T) {
	for name, edit := range map[string]func(*specs.Spec){
		"bad rctl":      func(s *specs.Spec) { s.Annotations["org.freebsd.rctl.memoryuse"] = "deny" },
		"bad mount":     func(s *specs.Spec) { s.Mounts = append(s.Mounts, specs.Mount{Destination: "/proc", Type: "proc"}) },
		"no args":       func(s *specs.Spec) { s.Process.Args = nil },
		"bad vnet":      func(s *specs.Spec) { s.FreeBSD.Jail.Vnet = "disable" },
		"terminal":      func(s *specs.Spec) { s.Process.Terminal = true },
		"linux rlimit":  func(s *specs.Spec) { s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NICE"}} },
		"no root":       func(s *specs.Spec) { s.Root = nil },
		"bad dev path":  func(s *specs.Spec) { s.FreeBSD.Devices[0].Path = "../x" },
		"unknown annot": func(s *specs.Spec) { s.Annotations["org.freebsd.jail.nope"] = "1" },
	} {
		bundle, _, _ := testBundle(t, edit)
		k := newFake()
		r := New(t.TempDir(), k, nil)
		if err := create(t, r, bundle); err == nil {
			t.Errorf("%s: no error", name)
		}
		if len(k.log()) != 0 {
			t.Errorf("%s: calls %q", name, k.log())
		}
		if ids, _ := r.store.ids(); len(ids) != 0 {
			t.Errorf("%s: state left", name)
		}
	}
}

// A failed release keeps the state with what is left, and Delete can be
// run again.
func TestDeleteRetry(t *testing.T) {
	bundle, _, _ := testBundle(t, nil)
	k := newFake()
	r := New(t.TempDir(), k, nil)
	r.KillWait = 0
	if err := create(t, r, bundle); err != nil {
		t.Fatal(err)
	}
	k.failOn["jail_remove#1"] = errors.New("EBUSY")
	if err := r.Delete(context.Background(), "c1", true); err == nil || !strings.Contains(err.Error(), "EBUSY") {
		t.Fatalf("delete: %v", err)
	}
	st, err := r.State(context.Background(), "c1")
	if err != nil || st.Status != specs.StateStopped {
		t.Fatalf("state: %+v %v", st, err)
	}
	k.reset()
	if err := r.Delete(context.Background(), "c1", false); err != nil {
		t.Fatal(err)
	}
	if got := k.log(); len(got) != 1 || got[0] != "jail_remove 7" {
		t.Errorf("second delete: %q", got)
	}
}

func TestHooksInLifecycle(t *testing.T) {
	out := filepath.Join(t.TempDir(), "hooks")
	hook := func(name string) []specs.Hook {
		return []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo " + name + " $(cat | grep -o '\"status\":\"[a-z]*\"') >> " + out}}}
	}
	bundle, _, _ := testBundle(t, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{CreateRuntime: hook("createRuntime"), CreateContainer: hook("createContainer"),
			StartContainer: hook("startContainer"), Poststart: hook("poststart"), Poststop: hook("poststop")}
	})
	r := New(t.TempDir(), newFake(), nil)
	r.KillWait = 0
	ctx := context.Background()
	if err := create(t, r, bundle); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, "c1", true); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	want := `createRuntime "status":"creating"
createContainer "status":"created"
startContainer "status":"created"
poststart "status":"running"
poststop "status":"stopped"
`
	if string(got) != want {
		t.Errorf("hooks:\n%s\nwant:\n%s", got, want)
	}
}
