package overlay

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stockade/stockade/internal/testenv"
)

// TestOverlayCheckRemembered: the test mount that New makes is remembered
// under the root for this boot, and a later New on that root trusts it; a
// marker of another boot does not count. The root used for the second
// part is on overlayfs, where the test mount fails, so the outcome shows
// whether the mount was tried.
func TestOverlayCheckRemembered(t *testing.T) {
	testenv.RequireRoot(t, "mounting")
	boot := bootID()
	if boot == "" {
		t.Fatal("no /proc/sys/kernel/random/boot_id")
	}
	root := filepath.Join(t.TempDir(), "root")
	if _, err := New(root); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, checkedMarker)); err != nil || string(b) != boot {
		t.Fatalf("marker after a check: %q, %v; want the boot id %q", b, err, boot)
	}

	merged := overlayDir(t)
	for _, tt := range []struct {
		name, marker string
		wantErr      bool
	}{
		{"other boot", "not-" + boot, true},
		{"this boot", boot, false},
	} {
		r := filepath.Join(merged, tt.name)
		if err := os.MkdirAll(r, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(r, checkedMarker), []byte(tt.marker), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := New(r)
		if tt.name == "other boot" && err == nil {
			t.Skip("this kernel accepts overlayfs as an upper file system")
		}
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: New: %v, want error %v", tt.name, err, tt.wantErr)
		}
	}
}
