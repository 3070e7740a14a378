//go:build linux || freebsd || darwin || netbsd || openbsd || dragonfly

package flock

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestHeld checks Held against locks of another process, and that its
// probe leaves no lock behind.
func TestHeld(t *testing.T) {
	tests := []struct {
		name string
		hold func(t *testing.T, path string) // sets up the file's lock
		want bool
		free bool // no lock is left on the file
	}{
		{"free file", func(t *testing.T, path string) { open(t, path) }, false, true},
		{"exclusive holder", func(t *testing.T, path string) { startHolder(t, path, Exclusive) }, true, false},
		{"shared holder", func(t *testing.T, path string) { startHolder(t, path, Shared) }, false, false},
		{"holder killed", func(t *testing.T, path string) { startHolder(t, path, Exclusive)() }, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "monitor.lock")
			tc.hold(t, path)
			got, err := Held(path)
			if err != nil || got != tc.want {
				t.Fatalf("Held = %v, %v; want %v", got, err, tc.want)
			}
			if !tc.free {
				return
			}
			// The probe's shared lock went with its descriptor.
			if ok, err := TryLock(open(t, path), Exclusive); !ok || err != nil {
				t.Errorf("TryLock(exclusive) after Held = %v, %v", ok, err)
			}
		})
	}
	t.Run("no file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "monitor.lock")
		got, err := Held(path)
		if got || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Held = %v, %v; want false, not exist", got, err)
		}
		var pe *os.PathError
		if !errors.As(err, &pe) || pe.Path != path {
			t.Errorf("error %v does not name %s", err, path)
		}
	})
}

// BenchmarkHeld is one probe of a held lock, against TryLock on a file
// opened for it, the way monitorAlive made it before Held.
func BenchmarkHeld(b *testing.B) {
	path := filepath.Join(b.TempDir(), "monitor.lock")
	f, err := Acquire(b.Context(), path, Exclusive)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.Run("Held", func(b *testing.B) {
		for b.Loop() {
			if ok, err := Held(path); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("OpenTryLock", func(b *testing.B) {
		for b.Loop() {
			g, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			ok, err := TryLock(g, Shared)
			g.Close()
			if ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
}
