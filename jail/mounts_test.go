package jail

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/mount"
)

func TestResolveTargetStaysInRoot(t *testing.T) {
	root := t.TempDir()
	out := t.TempDir()
	os.Symlink(out, filepath.Join(root, "abs"))
	os.Symlink("../../../..", filepath.Join(root, "up"))
	for dest, want := range map[string]string{"/abs/x": out + "/x", "/up/etc": "/etc", "/a/../b": "/b", "/": ""} {
		got, err := ResolveTarget(root, dest, true, false)
		if err != nil || got != root+want {
			t.Errorf("%s: %s %v, want %s", dest, got, err, root+want)
		}
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("made %v outside the root", entries)
	}
	if got, err := ResolveTarget(root, "/f/file", true, true); err != nil {
		t.Error(err)
	} else if fi, err := os.Stat(got); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("file mount point: %v", err)
	}
}

func TestPlanMounts(t *testing.T) {
	spec := &specs.Spec{Root: &specs.Root{Path: "rootfs", Readonly: true}, Mounts: []specs.Mount{
		{Destination: "/data", Type: "bind", Source: "rel", Options: []string{"rbind", "ro"}},
		{Destination: "/tmp", Type: "tmpfs", Options: []string{"mode=1777"}},
		{Destination: "/proc", Type: "linprocfs"},
	}}
	steps, err := PlanMounts(spec, "/b", "/b/rootfs")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range steps {
		c, err := s.Call("/T" + s.Destination)
		if err != nil {
			t.Fatal(err)
		}
		var o []string
		for _, x := range c.Options {
			o = append(o, x.String())
		}
		got = append(got, strings.Join(o, " "))
	}
	want := []string{
		"fstype=nullfs fspath=/T/ target=/b/rootfs",
		"fstype=nullfs fspath=/T/data target=/b/rel",
		"fstype=tmpfs fspath=/T/tmp from=tmpfs mode=1777",
		"fstype=linprocfs fspath=/T/proc",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for name, m := range map[string]specs.Mount{
		"relative": {Destination: "x", Type: "tmpfs"}, "proc": {Destination: "/proc", Type: "proc"},
		"overlay": {Destination: "/x", Type: "overlay"}, "no source": {Destination: "/x", Type: "nullfs"},
	} {
		if _, err := PlanMounts(&specs.Spec{Mounts: []specs.Mount{m}}, "/b", "/b/r"); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := PlanMounts(&specs.Spec{FreeBSD: &specs.FreeBSD{Devices: []specs.FreeBSDDevice{{Path: "pf"}}}}, "/b", "/b/r"); err == nil {
		t.Error("devices without devfs accepted")
	}
}

func TestDevfsRules(t *testing.T) {
	mode := func(m os.FileMode) *os.FileMode { return &m }
	const tgt = "/j/dev"
	unhide := func(p string) []string { return []string{"-m", tgt, "rule", "apply", "path", p, "unhide"} }
	chmod := func(p, m string) []string { return []string{"-m", tgt, "rule", "apply", "path", p, "mode", m} }
	tests := []struct {
		name    string
		devices []specs.FreeBSDDevice
		want    [][]string
	}{
		{"none", nil, nil},
		{"no mode: unhide only", []specs.FreeBSDDevice{{Path: "pf"}}, [][]string{unhide("pf")}},
		{"mode", []specs.FreeBSDDevice{{Path: "pf", Mode: mode(0o600)}}, [][]string{unhide("pf"), chmod("pf", "0600")}},
		{"mode 0666", []specs.FreeBSDDevice{{Path: "null", Mode: mode(0o666)}}, [][]string{unhide("null"), chmod("null", "0666")}},
		{"mode 0", []specs.FreeBSDDevice{{Path: "mem", Mode: mode(0)}}, [][]string{unhide("mem"), chmod("mem", "00")}},
		{"non-permission bits dropped", []specs.FreeBSDDevice{{Path: "tty", Mode: mode(os.ModeCharDevice | 0o620)}}, [][]string{unhide("tty"), chmod("tty", "0620")}},
		{"nested path", []specs.FreeBSDDevice{{Path: "usb/0.1.0", Mode: mode(0o640)}}, [][]string{unhide("usb/0.1.0"), chmod("usb/0.1.0", "0640")}},
		{"glob path", []specs.FreeBSDDevice{{Path: "bpf*"}}, [][]string{unhide("bpf*")}},
		{"several, in order", []specs.FreeBSDDevice{{Path: "pf", Mode: mode(0o600)}, {Path: "fuse"}, {Path: "dsp0", Mode: mode(0o660)}},
			[][]string{unhide("pf"), chmod("pf", "0600"), unhide("fuse"), unhide("dsp0"), chmod("dsp0", "0660")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MountStep{Destination: "/dev", Devices: tt.devices}.DevfsRules(tgt)
			if len(got) != len(tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			for i := range got {
				if !slices.Equal(got[i], tt.want[i]) {
					t.Errorf("rule %d: got %q, want %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// PlanMounts attaches freebsd.devices to the devfs mount on /dev, not to
// another devfs mount, and checks their paths and modes.
func TestPlanMountsDevices(t *testing.T) {
	mode := os.FileMode(0o600)
	bad := os.ModeSetuid | 0o600
	devfs := []specs.Mount{
		{Destination: "/compat/linux/dev", Type: "devfs"},
		{Destination: "/dev/", Type: "devfs"},
		{Destination: "/dev/fd", Type: "fdescfs"},
	}
	tests := []struct {
		name    string
		devices []specs.FreeBSDDevice
		wantErr string
	}{
		{"ok", []specs.FreeBSDDevice{{Path: "pf", Mode: &mode}, {Path: "usb/0.1.0"}}, ""},
		{"absolute", []specs.FreeBSDDevice{{Path: "/dev/pf"}}, "must be relative to /dev"},
		{"dotdot", []specs.FreeBSDDevice{{Path: "usb/../../etc"}}, "must be relative to /dev"},
		{"space", []specs.FreeBSDDevice{{Path: "p f"}}, "must be relative to /dev"},
		{"empty", []specs.FreeBSDDevice{{Path: ""}}, "must be relative to /dev"},
		{"setuid mode", []specs.FreeBSDDevice{{Path: "pf", Mode: &bad}}, "more than permission bits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps, err := PlanMounts(&specs.Spec{Mounts: devfs, FreeBSD: &specs.FreeBSD{Devices: tt.devices}}, "/b", "/b/r")
			if tt.wantErr != "" {
				if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range steps {
				if want := i == 1; (len(s.Devices) > 0) != want {
					t.Errorf("step %d (%s): devices %v", i, s.Destination, s.Devices)
				}
			}
		})
	}
}

// A Linux image's /dev/shm lives in the "shm" directory the linuxulator
// adds to devfs: the /dev devfs unhides it, for Linux images with such a
// mount only.
func TestPlanMountsLinuxShm(t *testing.T) {
	mode := os.FileMode(0o600)
	mounts := []specs.Mount{
		{Destination: "/dev", Type: "devfs", Options: []string{"ruleset=4"}},
		{Destination: "/dev/shm", Type: "tmpfs", Options: []string{"mode=1777"}},
	}
	for _, tc := range []struct {
		name    string
		ann     map[string]string
		mounts  []specs.Mount
		devices []specs.FreeBSDDevice
		want    string // the devfs rules' paths
	}{
		{"linux", map[string]string{AnnotationImageOS: "linux"}, mounts, nil, "shm"},
		{"linux with devices", map[string]string{AnnotationImageOS: "linux"}, mounts, []specs.FreeBSDDevice{{Path: "pf", Mode: &mode}}, "pf pf shm"},
		{"linux, shm listed", map[string]string{AnnotationImageOS: "linux"}, mounts, []specs.FreeBSDDevice{{Path: "shm"}}, "shm"},
		{"freebsd", map[string]string{AnnotationImageOS: "freebsd"}, mounts, nil, ""},
		{"linux without /dev/shm", map[string]string{AnnotationImageOS: "linux"}, mounts[:1], nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := &specs.Spec{Mounts: tc.mounts, Annotations: tc.ann, FreeBSD: &specs.FreeBSD{Devices: tc.devices}}
			steps, err := PlanMounts(spec, "/b", "/r")
			if err != nil {
				t.Fatal(err)
			}
			var paths []string
			for _, args := range steps[0].DevfsRules("/r/dev") {
				paths = append(paths, args[5])
			}
			if got := strings.Join(paths, " "); got != tc.want {
				t.Errorf("devfs rules for %q, want %q", got, tc.want)
			}
			if len(tc.devices) > 0 && len(spec.FreeBSD.Devices) != len(tc.devices) {
				t.Errorf("the spec's devices changed: %v", spec.FreeBSD.Devices)
			}
		})
	}
}

// nmountOpt returns the value of the named option of an nmount call.
func nmountOpt(c mount.NmountCall, name string) string {
	for _, o := range c.Options {
		if o.Name == name {
			return o.Value
		}
	}
	return ""
}

// roRootBundle is a bundle with a read-only root and mounts on points the
// image lacks (a directory, a file in a missing directory) and on a file
// it has.
func roRootBundle(t *testing.T) (bundle, rootfs string, targets []string) {
	bundle, rootfs, _ = testBundle(t, func(s *specs.Spec) {
		s.Root.Readonly = true
		s.FreeBSD.Jail.Interface, s.FreeBSD.Jail.Ip4Addr = "", nil
		s.Annotations = map[string]string{}
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/newdir", Type: "nullfs", Source: "data"},
			specs.Mount{Destination: "/etc/resolv.conf", Type: "nullfs", Source: "resolv.conf", Options: []string{"ro"}},
			specs.Mount{Destination: "/missing/hosts", Type: "nullfs", Source: "resolv.conf", Options: []string{"ro"}},
		)
	})
	if err := os.WriteFile(filepath.Join(bundle, "resolv.conf"), []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "etc/resolv.conf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"/dev", "/dev/fd", "/data", "/newdir", "/etc/resolv.conf", "/missing/hosts"} {
		targets = append(targets, filepath.Join(rootfs, d))
	}
	return bundle, rootfs, targets
}

// With root.readonly, the root's read-only nullfs is mounted first; every
// mount point in it must exist by then, since nothing can be made through
// the read-only layer afterwards (mkdir and creating a file fail with
// EROFS on FreeBSD).
func TestReadOnlyRootMountPointsMadeFirst(t *testing.T) {
	bundle, rootfs, targets := roRootBundle(t)
	k := newFake()
	var missing []string
	roMounted := false
	k.onNmount = func(c mount.NmountCall) {
		if nmountOpt(c, "fspath") != rootfs || roMounted {
			return
		}
		roMounted = true
		for _, p := range targets {
			if _, err := os.Lstat(p); err != nil {
				missing = append(missing, p)
			}
		}
	}
	if err := create(t, New(t.TempDir(), k, nil), bundle); err != nil {
		t.Fatal(err)
	}
	if !roMounted {
		t.Fatalf("no read-only mount of the root; calls:\n%s", strings.Join(k.log(), "\n"))
	}
	if len(missing) > 0 {
		t.Errorf("mount points missing when the root turned read-only: %q", missing)
	}
	if fi, err := os.Stat(filepath.Join(rootfs, "missing/hosts")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("file mount point: %v", err)
	}
}

// Linux-only tmpfs options are refused with the option named; FreeBSD's
// own are passed on.
func TestPlanMountsTmpfsOptions(t *testing.T) {
	for _, tc := range []struct {
		opts    []string
		wantErr string
	}{
		{[]string{"mode=1777", "size=64m", "inodes=1000", "nosuid"}, ""},
		{[]string{"nosuid", "strictatime", "mode=755", "size=65536k"}, ""},
		{[]string{"nr_inodes=1000"}, `option "nr_inodes=1000" is Linux-only (FreeBSD's tmpfs takes inodes=N)`},
		{[]string{"nr_blocks=10"}, `"nr_blocks=10" is Linux-only`},
		{[]string{"huge=always"}, `"huge=always" is Linux-only`},
		{[]string{"mpol=interleave"}, `"mpol=interleave" is Linux-only`},
		{[]string{"noswap"}, `"noswap" is Linux-only`},
		{[]string{"size=50%"}, `option "size=50%": FreeBSD's tmpfs takes a size in bytes`},
	} {
		t.Run(strings.Join(tc.opts, ","), func(t *testing.T) {
			spec := &specs.Spec{Mounts: []specs.Mount{{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: tc.opts}}}
			_, err := PlanMounts(spec, "/b", "/b/r")
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "tmpfs on /tmp") {
				t.Errorf("err %v, want %q", err, tc.wantErr)
			}
		})
	}
}
