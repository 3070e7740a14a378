//go:build freebsd

// Package freebsd is the FreeBSD integration suite of the jail runtime. It
// needs root on FreeBSD 14.x; see README.md.
package freebsd

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// STOCKADE_FREEBSD_BASE names a FreeBSD base.txz; run.sh fetches one.
func setup(t *testing.T) (bin, root, rootfs string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	base := os.Getenv("STOCKADE_FREEBSD_BASE")
	if base == "" {
		t.Skip("STOCKADE_FREEBSD_BASE (a base.txz) is not set")
	}
	dir := t.TempDir()
	bin = filepath.Join(dir, "stockade-runtime")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/stockade/stockade/cmd/stockade-runtime").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	rootfs = filepath.Join(os.TempDir(), "stockade-it-rootfs")
	if _, err := os.Stat(filepath.Join(rootfs, "bin/sh")); err != nil {
		os.MkdirAll(rootfs, 0o755)
		if out, err := exec.Command("tar", "-xf", base, "-C", rootfs).CombinedOutput(); err != nil {
			t.Fatalf("untar: %v\n%s", err, out)
		}
	}
	return bin, filepath.Join(dir, "state"), rootfs
}

func bundle(t *testing.T, rootfs string, edit func(*specs.Spec)) string {
	t.Helper()
	b := t.TempDir()
	mode := os.FileMode(0o600)
	spec := specs.Spec{
		Version:  specs.Version,
		Root:     &specs.Root{Path: rootfs},
		Hostname: "it",
		Process:  &specs.Process{Args: []string{"/bin/sleep", "60"}, Cwd: "/", Env: []string{"PATH=/bin:/usr/bin"}},
		Mounts: []specs.Mount{
			{Destination: "/dev", Type: "devfs", Source: "devfs", Options: []string{"ruleset=4"}},
			{Destination: "/dev/fd", Type: "fdescfs", Source: "fdescfs"},
			{Destination: "/mnt", Type: "nullfs", Source: b, Options: []string{"ro"}},
		},
		FreeBSD: &specs.FreeBSD{
			Devices: []specs.FreeBSDDevice{{Path: "pf", Mode: &mode}},
			Jail:    &specs.FreeBSDJail{Host: "new", Ip4: "inherit", Ip6: "disable", SysVShm: "new"},
		},
		Annotations: map[string]string{},
	}
	if edit != nil {
		edit(&spec)
	}
	data, _ := json.Marshal(spec)
	if err := os.WriteFile(filepath.Join(b, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

func rt(t *testing.T, bin, root string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, append([]string{"--root", root}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("stockade-runtime %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func state(t *testing.T, bin, root, id string) specs.State {
	var st specs.State
	if err := json.Unmarshal([]byte(rt(t, bin, root, "state", id)), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestLifecycle(t *testing.T) {
	bin, root, rootfs := setup(t)
	b := bundle(t, rootfs, nil)
	rt(t, bin, root, "create", "--bundle", b, "it1")
	t.Cleanup(func() { exec.Command(bin, "--root", root, "delete", "--force", "it1").Run() })
	if st := state(t, bin, root, "it1"); st.Status != "created" || st.Annotations["org.freebsd.jail.jid"] == "" {
		t.Fatalf("after create: %+v", st)
	}
	rt(t, bin, root, "start", "it1")
	if st := state(t, bin, root, "it1"); st.Status != "running" {
		t.Fatalf("after start: %+v", st)
	}
	if out := rt(t, bin, root, "exec", "it1", "/bin/hostname"); strings.TrimSpace(out) != "it" {
		t.Errorf("hostname %q", out)
	}
	if out := rt(t, bin, root, "exec", "it1", "/bin/ls", "/dev"); !strings.Contains(out, "pf") || !strings.Contains(out, "null") {
		t.Errorf("/dev: %q", out)
	}
	if out := rt(t, bin, root, "exec", "it1", "/bin/ls", "/mnt"); !strings.Contains(out, "config.json") {
		t.Errorf("nullfs /mnt: %q", out)
	}
	if err := exec.Command(bin, "--root", root, "exec", "it1", "/usr/bin/touch", "/mnt/x").Run(); err == nil {
		t.Error("read-only nullfs is writable")
	}
	rt(t, bin, root, "kill", "it1", "KILL")
	rt(t, bin, root, "delete", "it1")
	if out, _ := exec.Command("mount", "-p").Output(); strings.Contains(string(out), rootfs+"/dev") {
		t.Errorf("mounts left:\n%s", out)
	}
}

func TestVnetEpair(t *testing.T) {
	bin, root, rootfs := setup(t)
	out, err := exec.Command("ifconfig", "epair", "create").Output()
	if err != nil {
		t.Skipf("epair: %v", err)
	}
	a := strings.TrimSpace(string(out))
	bside := strings.TrimSuffix(a, "a") + "b"
	t.Cleanup(func() { exec.Command("ifconfig", a, "destroy").Run() })
	b := bundle(t, rootfs, func(s *specs.Spec) {
		s.FreeBSD.Jail.Ip4, s.FreeBSD.Jail.Ip6 = "", ""
		s.FreeBSD.Jail.Vnet = "new"
		s.FreeBSD.Jail.VnetInterfaces = []string{bside}
	})
	rt(t, bin, root, "create", "--bundle", b, "it2")
	t.Cleanup(func() { exec.Command(bin, "--root", root, "delete", "--force", "it2").Run() })
	rt(t, bin, root, "start", "it2")
	if out := rt(t, bin, root, "exec", "it2", "/sbin/ifconfig", "-l"); !strings.Contains(out, bside) {
		t.Errorf("%s not in the vnet: %q", bside, out)
	}
	rt(t, bin, root, "delete", "--force", "it2")
	if err := exec.Command("ifconfig", bside).Run(); err != nil {
		t.Errorf("%s did not come back: %v", bside, err)
	}
}

func TestRctl(t *testing.T) {
	bin, root, rootfs := setup(t)
	if out, _ := exec.Command("sysctl", "-n", "kern.racct.enable").Output(); strings.TrimSpace(string(out)) != "1" {
		t.Skip("kern.racct.enable is 0")
	}
	b := bundle(t, rootfs, func(s *specs.Spec) { s.Annotations["org.freebsd.rctl.maxproc"] = "deny=20" })
	rt(t, bin, root, "create", "--bundle", b, "it3")
	t.Cleanup(func() { exec.Command(bin, "--root", root, "delete", "--force", "it3").Run() })
	if out, _ := exec.Command("rctl").Output(); !strings.Contains(string(out), "jail:it3:maxproc:deny=20") {
		t.Errorf("rule missing: %s", out)
	}
	rt(t, bin, root, "delete", "--force", "it3")
	if out, _ := exec.Command("rctl").Output(); strings.Contains(string(out), "jail:it3:") {
		t.Errorf("rule left: %s", out)
	}
}

// STOCKADE_LINUX_ROOTFS names an unpacked Linux (e.g. Alpine) root file
// system; linux.ko must be loaded.
func TestLinuxImage(t *testing.T) {
	bin, root, _ := setup(t)
	lroot := os.Getenv("STOCKADE_LINUX_ROOTFS")
	if lroot == "" {
		t.Skip("STOCKADE_LINUX_ROOTFS is not set")
	}
	b := bundle(t, lroot, func(s *specs.Spec) {
		s.FreeBSD.Devices = nil
		s.Mounts = append(s.Mounts[:2],
			specs.Mount{Destination: "/proc", Type: "linprocfs", Source: "linprocfs"},
			specs.Mount{Destination: "/sys", Type: "linsysfs", Source: "linsysfs"},
			specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"mode=1777"}})
	})
	rt(t, bin, root, "create", "--bundle", b, "it4")
	t.Cleanup(func() { exec.Command(bin, "--root", root, "delete", "--force", "it4").Run() })
	rt(t, bin, root, "start", "it4")
	if out := rt(t, bin, root, "exec", "it4", "/bin/cat", "/proc/version"); !strings.Contains(out, "Linux") {
		t.Errorf("/proc/version: %q", out)
	}
}
