package jail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
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
