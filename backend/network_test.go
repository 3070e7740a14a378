package backend

import (
	"strings"
	"testing"
)

func TestNetworkDriverTable(t *testing.T) {
	tbl := NetworkDrivers()
	for _, tt := range []struct {
		name, goos string
		nilDriver  bool
		err        string
	}{
		{"", "darwin", true, ""},
		{"linux", "freebsd", false, `network driver "linux" is not available on freebsd (available: [freebsd])`},
		{"nope", "linux", false, `network driver "nope" is not available on linux (available: [linux])`},
	} {
		d, err := tbl.Open(tt.name, tt.goos, NetworkOptions{Dir: t.TempDir()})
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Open(%q, %s): %v, want %q", tt.name, tt.goos, err, tt.err)
			}
		case tt.nilDriver:
			if err != nil || d != nil {
				t.Errorf("Open(%q, %s): %v %v, want no driver and no error", tt.name, tt.goos, d, err)
			}
		}
	}
	// Every row names the systems it runs on, once.
	seen := map[string]bool{}
	for _, d := range tbl {
		if len(d.OS) == 0 || seen[d.Name] {
			t.Errorf("row %q: OS %v, duplicate %v", d.Name, d.OS, seen[d.Name])
		}
		seen[d.Name] = true
	}
}
