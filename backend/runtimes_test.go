package backend

import (
	"errors"
	"io/fs"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stockade/stockade/config"
)

// The table knows exactly the names the configuration accepts, and each
// system's default agrees with the configuration's.
func TestRuntimeNames(t *testing.T) {
	table := Runtimes()
	if got := table.Names(); !slices.Equal(got, config.Runtimes) {
		t.Errorf("table %v, config.Runtimes %v", got, config.Runtimes)
	}
	for _, goos := range []string{"freebsd", "linux"} {
		r, ok := table.Default(goos)
		if want := config.Defaults(goos).Runtime; !ok || r.Name != want {
			t.Errorf("Default(%s) = %q, %v; config says %q", goos, r.Name, ok, want)
		}
	}
	if r, ok := table.Default("darwin"); ok {
		t.Errorf("Default(darwin) = %q, want none", r.Name)
	}
}

func TestLookupRuntime(t *testing.T) {
	table := Runtimes()
	tests := []struct {
		name, goos string
		wantErr    string
	}{
		{"jail", "freebsd", ""},
		{"runc", "linux", ""},
		{"crun", "linux", ""},
		{"jail", "linux", "runtime jail is not available on linux (it runs on freebsd; use runc or crun)"},
		{"runc", "freebsd", "runtime runc is not available on freebsd (it runs on linux; use jail)"},
		{"runc", "darwin", "runtime runc is not available on darwin (it runs on linux; no runtime runs here)"},
		{"kata", "linux", `runtime "kata" is not one of [jail runc crun] on linux`},
	}
	for _, tt := range tests {
		r, err := table.Lookup(tt.name, tt.goos)
		switch {
		case tt.wantErr == "" && (err != nil || r.Name != tt.name || r.Open == nil):
			t.Errorf("Lookup(%s, %s) = %q, %v", tt.name, tt.goos, r.Name, err)
		case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
			t.Errorf("Lookup(%s, %s): %v, want %q", tt.name, tt.goos, err, tt.wantErr)
		}
	}
}

func TestRuntimeDirs(t *testing.T) {
	tests := []struct {
		name, stateDir, runtimeRoot string
	}{
		{"jail", "jail", "/var/run/stockade-runtime"},
		{"runc", "runc", "/var/run/stockade-runtime/runc"},
		{"crun", "runc", "/var/run/stockade-runtime/runc"},
	}
	table := Runtimes()
	for _, tt := range tests {
		i := slices.IndexFunc(table, func(r Runtime) bool { return r.Name == tt.name })
		r := table[i]
		if r.StateDir != tt.stateDir || r.RuntimeRoot("/var/run/stockade-runtime") != tt.runtimeRoot {
			t.Errorf("%s: state dir %q, runtime root %q", tt.name, r.StateDir, r.RuntimeRoot("/var/run/stockade-runtime"))
		}
	}
}

func TestRuncBinary(t *testing.T) {
	tests := []struct{ name, configured, want string }{
		{"runc", "", "runc"},
		{"runc", "runc", "runc"},
		{"runc", "/opt/bin/runc", "/opt/bin/runc"},
		{"crun", "", "crun"},
		{"crun", "runc", "crun"},
		{"crun", "/opt/bin/crun", "/opt/bin/crun"},
	}
	for _, tt := range tests {
		if got := runcBinary(tt.name, tt.configured); got != tt.want {
			t.Errorf("runcBinary(%s, %q) = %q, want %q", tt.name, tt.configured, got, tt.want)
		}
	}
}

// A missing runtime program is found by the probe, before anything is
// made, with an error naming it and saying what to do.
func TestRuncProbe(t *testing.T) {
	r, err := Runtimes().Lookup("crun", "linux")
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "no-crun")
	tests := []struct {
		binary, program string
		want            error
	}{
		{missing, missing, fs.ErrNotExist},
		{"no-such-crun-program", "no-such-crun-program", exec.ErrNotFound},
	}
	for _, tt := range tests {
		err := r.Probe(RuntimeOptions{Binary: tt.binary})
		if !errors.Is(err, tt.want) || !strings.HasPrefix(err.Error(), "runtime "+tt.program+": ") ||
			!strings.HasSuffix(err.Error(), " (install it, or set [runc] binary in the configuration)") {
			t.Errorf("probe of %s: %v", tt.binary, err)
		}
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Probe(RuntimeOptions{Binary: sh}); err != nil {
		t.Errorf("probe of %s: %v", sh, err)
	}
}
