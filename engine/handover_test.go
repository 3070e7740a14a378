package engine

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSmallMonitorPath: the monitor hands over only with an idle time and
// an executable small monitor at the configured path.
func TestSmallMonitorPath(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "stockade-monitor")
	plain := filepath.Join(dir, "not-executable")
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{{exe, 0o755}, {plain, 0o644}} {
		if err := os.WriteFile(f.path, []byte("#!/bin/sh\n"), f.mode); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		idle  time.Duration
		small string
		want  string
	}{
		{"configured", time.Second, exe, exe},
		{"idle 0 never hands over", 0, exe, ""},
		{"missing", time.Second, filepath.Join(dir, "nope"), ""},
		{"not executable", time.Second, plain, ""},
		{"a directory", time.Second, dir, ""},
		// The test binary has no stockade-monitor next to it.
		{"default path, missing", time.Second, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Engine{MonitorIdleAfter: tt.idle, SmallMonitor: tt.small}
			if got := e.smallMonitor(); got != tt.want {
				t.Errorf("smallMonitor() = %q, want %q", got, tt.want)
			}
		})
	}
}

// keepHook is a hook that keeps the monitor of the containers it names.
type keepHook struct {
	Hook
	keep string
}

func (h keepHook) NeedsMonitor(c *Container) bool { return c.Name == h.keep }

func TestNeedsMonitor(t *testing.T) {
	e := &Engine{Hooks: []Hook{keepHook{keep: "web"}}}
	if !e.needsMonitor(&Container{Name: "web"}) {
		t.Error("a hook that needs the monitor of web did not keep it")
	}
	if e.needsMonitor(&Container{Name: "quiet"}) {
		t.Error("a container no hook names kept its monitor")
	}
	if (&Engine{}).needsMonitor(&Container{Name: "web"}) {
		t.Error("no hooks, yet the monitor is kept")
	}
}
