package jail

import (
	"errors"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestJailParamsLinux(t *testing.T) {
	const head = "name=c1 path=/r persist"
	const linux = " linux=1 linux.osname=Linux linux.osrelease="
	tests := []struct {
		name      string
		edit      func(*specs.Spec)
		want      string // the parameters joined by spaces, or the error's text
		wantLinux bool
	}{
		{"freebsd image", func(s *specs.Spec) {}, head + defaultsTail, false},
		{"linux section", func(s *specs.Spec) { s.Linux = &specs.Linux{} }, head + linux + "5.15.0" + defaultsTail, true},
		{"image os annotation", func(s *specs.Spec) { s.Annotations = map[string]string{AnnotationImageOS: "linux"} }, head + linux + "5.15.0" + defaultsTail, true},
		{"annotation says freebsd over a linux section", func(s *specs.Spec) {
			s.Linux = &specs.Linux{}
			s.Annotations = map[string]string{AnnotationImageOS: "freebsd"}
		}, head + defaultsTail, false},
		{"linprocfs alone is not linux", func(s *specs.Spec) {
			s.Mounts = []specs.Mount{{Destination: "/compat/linux/proc", Type: "linprocfs"}}
		}, head + defaultsTail, false},
		{"osrelease", func(s *specs.Spec) {
			s.Linux = &specs.Linux{}
			s.Annotations = map[string]string{AnnotationLinuxOSRelease: "6.1.0-18-amd64"}
		}, head + linux + "6.1.0-18-amd64" + defaultsTail, true},
		{"osrelease dashed suffix", func(s *specs.Spec) {
			s.Annotations = map[string]string{AnnotationImageOS: "linux", AnnotationLinuxOSRelease: "4.18.0-553.el8"}
		}, head + linux + "4.18.0-553.el8" + defaultsTail, true},
		// linux_map_osrel refuses a suffix that starts with '.' or is empty.
		{"osrelease dotted suffix", func(s *specs.Spec) {
			s.Annotations = map[string]string{AnnotationImageOS: "linux", AnnotationLinuxOSRelease: "4.18.0.el8"}
		}, "is not a Linux release", false},
		{"osrelease empty suffix", func(s *specs.Spec) {
			s.Annotations = map[string]string{AnnotationImageOS: "linux", AnnotationLinuxOSRelease: "5.15.0-"}
		}, "is not a Linux release", false},
		{"linux after sysv, before enforce_statfs", func(s *specs.Spec) {
			s.Linux = &specs.Linux{}
			s.Hostname = "h"
			s.FreeBSD.Jail.SysVShm = "new"
		}, head + " host=1 host.hostname=h sysvshm=1" + linux + "5.15.0" + defaultsTail, true},
		{"osrelease without linux", func(s *specs.Spec) {
			s.Annotations = map[string]string{AnnotationLinuxOSRelease: "5.15.0"}
		}, "not for a Linux image", false},
		{"osrelease two parts", func(s *specs.Spec) {
			s.Linux = &specs.Linux{}
			s.Annotations = map[string]string{AnnotationLinuxOSRelease: "5.15"}
		}, "is not a Linux release", false},
		{"osrelease major 0", func(s *specs.Spec) {
			s.Linux = &specs.Linux{}
			s.Annotations = map[string]string{AnnotationLinuxOSRelease: "0.9.0"}
		}, "is not a Linux release", false},
		{"osrelease bad suffix", func(s *specs.Spec) {
			s.Linux = &specs.Linux{}
			s.Annotations = map[string]string{AnnotationLinuxOSRelease: "5.15.0 x"}
		}, "is not a Linux release", false},
		{"osrelease too long", func(s *specs.Spec) {
			s.Linux = &specs.Linux{}
			s.Annotations = map[string]string{AnnotationLinuxOSRelease: "5.15.0-" + strings.Repeat("x", 60)}
		}, "is not a Linux release", false},
		{"osrelease empty", func(s *specs.Spec) {
			s.Linux = &specs.Linux{}
			s.Annotations = map[string]string{AnnotationLinuxOSRelease: ""}
		}, "is not a Linux release", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &specs.Spec{FreeBSD: &specs.FreeBSD{Jail: &specs.FreeBSDJail{}}}
			tt.edit(spec)
			cfg, err := JailParams(spec, "c1", "/r")
			if err != nil {
				if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want %q", err, tt.want)
				}
				return
			}
			var s []string
			for _, p := range cfg.Params {
				s = append(s, p.String())
			}
			if got := strings.Join(s, " "); got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
			if cfg.Linux != tt.wantLinux {
				t.Errorf("Linux = %t, want %t", cfg.Linux, tt.wantLinux)
			}
		})
	}
}

// The linux parameters reach jail_set(2) with the types the kernel wants:
// linux is a jailsys int, linux.osname and linux.osrelease strings.
func TestLinuxParamsEncode(t *testing.T) {
	spec := &specs.Spec{Linux: &specs.Linux{}}
	cfg, err := JailParams(spec, "c1", "/r")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]ParamType{"linux": ParamInt, "linux.osname": ParamString, "linux.osrelease": ParamString}
	for _, p := range cfg.Params {
		if typ, ok := want[p.Name]; ok {
			if p.Type != typ {
				t.Errorf("%s: type %d, want %d", p.Name, p.Type, typ)
			}
			delete(want, p.Name)
		}
	}
	if len(want) != 0 {
		t.Errorf("missing %v", want)
	}
	if _, err := EncodeParams(cfg.Params); err != nil {
		t.Error(err)
	}
}

// Create passes the Linux parameters in its jail_set call.
func TestCreateLinux(t *testing.T) {
	bundle, rootfs, data := testBundle(t, func(s *specs.Spec) {
		s.Annotations[AnnotationImageOS] = "linux"
		s.Annotations[AnnotationLinuxOSRelease] = "6.6.0"
	})
	k := newFake()
	if err := create(t, New(t.TempDir(), k, nil), bundle); err != nil {
		t.Fatal(err)
	}
	// The linux.* parameters exist once the linuxulator is loaded.
	want := []string{"kldload linux linux64"}
	for _, c := range happyCalls(rootfs, data) {
		want = append(want, strings.Replace(c, " sysvshm=1 ", " sysvshm=1 linux=1 linux.osname=Linux linux.osrelease=6.6.0 ", 1))
	}
	if got := k.log(); !slices.Equal(got, want) {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
