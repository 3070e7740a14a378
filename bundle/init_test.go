package bundle

import (
	"slices"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestInit(t *testing.T) {
	img := ocispec.ImageConfig{Entrypoint: []string{"/bin/app"}, Cmd: []string{"-v"}}
	tests := []struct {
		goos     string
		wantType string
		wantOpts []string
	}{
		{"linux", "bind", []string{"bind", "ro", "nosuid", "nodev"}},
		{"freebsd", "nullfs", []string{"ro"}},
	}
	for _, tt := range tests {
		t.Run(tt.goos, func(t *testing.T) {
			spec, err := Generate(img, "", Options{GOOS: tt.goos, Init: "/usr/local/bin/stockade"})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{InitPath, "--", "/bin/app", "-v"}
			if !slices.Equal(spec.Process.Args, want) {
				t.Errorf("args %q, want %q", spec.Process.Args, want)
			}
			m := findMount(spec, InitPath)
			if m == nil {
				t.Fatalf("no mount at %s", InitPath)
			}
			if m.Source != "/usr/local/bin/stockade" || m.Type != tt.wantType || !slices.Equal(m.Options, tt.wantOpts) {
				t.Errorf("init mount %+v", m)
			}
			// Without --init: the command alone, no mount.
			spec, err = Generate(img, "", Options{GOOS: tt.goos})
			if err != nil {
				t.Fatal(err)
			}
			if spec.Process.Args[0] != "/bin/app" || findMount(spec, InitPath) != nil {
				t.Errorf("without init: %q", spec.Process.Args)
			}
		})
	}
}
