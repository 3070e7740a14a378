package engine

import (
	"os"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/bundle"
	"github.com/stockade/stockade/snapshot"
)

func TestOverlayDirs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mounts []snapshot.Mount
		upper  string
		lowers []string
		ok     bool
	}{
		{"overlay", []snapshot.Mount{{Type: "overlay", Source: "overlay", Options: []string{"index=off", "workdir=/w", "upperdir=/u", "lowerdir=/l2:/l1"}}}, "/u", []string{"/l2", "/l1"}, true},
		{"one lower", []snapshot.Mount{{Type: "overlay", Options: []string{"lowerdir=/l", "upperdir=/u"}}}, "/u", []string{"/l"}, true},
		{"read-only overlay", []snapshot.Mount{{Type: "overlay", Options: []string{"lowerdir=/a:/b"}}}, "", nil, false},
		{"bind", []snapshot.Mount{{Type: "bind", Source: "/fs", Options: []string{"rw"}}}, "", nil, false},
		{"unionfs stack", []snapshot.Mount{{Type: "nullfs", Source: "/l"}, {Type: "unionfs", Source: "/u"}}, "", nil, false},
	} {
		upper, lowers, ok := overlayDirs(tc.mounts)
		if upper != tc.upper || !slices.Equal(lowers, tc.lowers) || ok != tc.ok {
			t.Errorf("%s: got %q %q %v, want %q %q %v", tc.name, upper, lowers, ok, tc.upper, tc.lowers, tc.ok)
		}
	}
}

func TestDiffExcludes(t *testing.T) {
	e := &Engine{Root: t.TempDir()}
	c := &Container{ID: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
	// Without a bundle: the defaults.
	if got := e.diffExcludes(c); !slices.Equal(got, DefaultDiffExcludes) {
		t.Errorf("no bundle: %v", got)
	}
	// With one: its mount points too.
	spec := &specs.Spec{Version: specs.Version, Mounts: []specs.Mount{
		{Destination: "/proc", Type: "proc"},
		{Destination: "/data/", Type: "bind", Source: "/srv"},
		{Destination: "/run/secrets//x", Type: "tmpfs"},
	}}
	if err := os.MkdirAll(e.containerDir(c.ID), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := bundle.Write(e.containerDir(c.ID), spec); err != nil {
		t.Fatal(err)
	}
	got := e.diffExcludes(c)
	for _, want := range []string{"/etc/hosts", "/proc", "/data", "/run/secrets/x"} {
		if !slices.Contains(got, want) {
			t.Errorf("excludes %v lack %s", got, want)
		}
	}
}
