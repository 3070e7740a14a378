//go:build freebsd

package mount

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/internal/testenv"
	"github.com/stockade/stockade/snapshot"
)

func needRoot(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t, "mounting")
}

// TestNmount mounts nullfs (rw and ro), tmpfs and a stack of two unionfs
// layers, and checks what each shows.
func TestNmount(t *testing.T) {
	needRoot(t)
	lower, upper := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(lower, "f"), []byte("lower"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(upper, "g"), []byte("upper"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		mounts   []snapshot.Mount
		read     string
		writable bool
	}{
		{"nullfs rw", []snapshot.Mount{{Type: "nullfs", Source: lower, Options: []string{"rw"}}}, "f", true},
		{"bind ro", []snapshot.Mount{{Type: "bind", Source: lower, Options: []string{"ro"}}}, "f", false},
		{"tmpfs", []snapshot.Mount{{Type: "tmpfs", Options: []string{"size=1m"}}}, "", true},
		{"unionfs over nullfs", []snapshot.Mount{
			{Type: "nullfs", Source: lower, Options: []string{"ro"}},
			{Type: "unionfs", Source: upper},
		}, "f", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := t.TempDir()
			if err := All(tc.mounts, target); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := UnmountAll(target); err != nil {
					t.Error(err)
				}
			}()
			if tc.read != "" {
				if _, err := os.ReadFile(filepath.Join(target, tc.read)); err != nil {
					t.Error(err)
				}
			}
			err := os.WriteFile(filepath.Join(target, "new"), []byte("x"), 0o644)
			if tc.writable && err != nil {
				t.Errorf("write: %v", err)
			}
			if !tc.writable && !errors.Is(err, unix.EROFS) {
				t.Errorf("write to a ro mount: %v, want EROFS", err)
			}
		})
	}
}

func TestNmountErrors(t *testing.T) {
	needRoot(t)
	target := t.TempDir()
	err := All([]snapshot.Mount{{Type: "nullfs", Source: filepath.Join(target, "missing")}}, target)
	if err == nil {
		UnmountAll(target)
		t.Fatal("nullfs of a missing directory succeeded")
	}
	if err := Unmount(target); !errors.Is(err, ErrNotMounted) {
		t.Errorf("Unmount of a plain dir: %v, want ErrNotMounted", err)
	}
}
