//go:build freebsd

package freebsd

import (
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/bundle"
)

// permissionsBundle writes the bundle stockade run makes for a FreeBSD
// image running sleep 60 with the given security options (--jail-param,
// --privileged, --devfs-ruleset).
func (e *env) permissionsBundle(t *testing.T, sec bundle.Security) string {
	t.Helper()
	spec, err := bundle.Generate(ocispec.ImageConfig{Cmd: []string{"/bin/sleep", "60"}}, "", bundle.Options{
		GOOS: "freebsd", Rootfs: e.rootfs, Hostname: "perm", Security: sec,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e.bundle(t, func(s *specs.Spec) { *s = *spec })
}

// TestPermissionsJailParams checks that --jail-param values reach the
// kernel: jls -n reports them.
func TestPermissionsJailParams(t *testing.T) {
	e := setup(t)
	id := newID(t)
	e.create(t, id, e.permissionsBundle(t, bundle.Security{
		JailParams: []string{"allow.mlock=1", "allow.sysvipc=1", "allow.raw_sockets", "allow.nochflags"},
	}))
	got := jailParams(t, id, "allow.mlock", "allow.raw_sockets", "allow.chflags", "sysvshm", "sysvmsg", "sysvsem")
	for _, want := range []string{"allow.mlock", "allow.raw_sockets", "allow.nochflags", "sysvshm=inherit", "sysvmsg=inherit", "sysvsem=inherit"} {
		if !slices.Contains(got, want) {
			t.Errorf("jls -n: want %s, got %v", want, got)
		}
	}
}

// TestPermissionsPrivileged checks --privileged's documented set, and that
// its /dev shows devices ruleset 4 hides (/dev/mem), which a default
// container's does not.
func TestPermissionsPrivileged(t *testing.T) {
	e := setup(t)
	id := newID(t)
	e.create(t, id, e.permissionsBundle(t, bundle.Security{Privileged: true}))
	var names, want []string
	for _, p := range bundle.PrivilegedJailParams {
		name, _, _ := strings.Cut(p, "=")
		names = append(names, name)
		want = append(want, name)
	}
	got := jailParams(t, id, append(names, "enforce_statfs", "allow.mount")...)
	for _, w := range append(want, "enforce_statfs=2", "allow.nomount") {
		if !slices.Contains(got, w) {
			t.Errorf("jls -n: want %s, got %v", w, got)
		}
	}
	e.must(t, "start", id)
	if out := e.exec(t, id, "/bin/sh", "-c", "test -c /dev/mem && echo visible"); strings.TrimSpace(out) != "visible" {
		t.Errorf("/dev/mem in a privileged jail: %q", out)
	}

	plain := newID(t) + "-plain"
	e.create(t, plain, e.permissionsBundle(t, bundle.Security{}))
	e.must(t, "start", plain)
	if out := e.exec(t, plain, "/bin/sh", "-c", "test -e /dev/mem || echo hidden"); strings.TrimSpace(out) != "hidden" {
		t.Errorf("/dev/mem in a default jail: %q", out)
	}
}
