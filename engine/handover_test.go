package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
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

// fwdHook is a ForwarderHook that records what it is asked and given.
type fwdHook struct {
	NopHook
	name    string
	fs      []Forwarder
	err     error
	log     *[]string
	adopted []Forwarder
}

func (h *fwdHook) Name() string { return h.name }
func (h *fwdHook) HandOffForwarders(c *Container) ([]Forwarder, func(), error) {
	*h.log = append(*h.log, "handoff "+h.name)
	if h.err != nil {
		return nil, nil, h.err
	}
	return h.fs, func() { *h.log = append(*h.log, "resume "+h.name) }, nil
}
func (h *fwdHook) AdoptForwarders(_ context.Context, c *Container, fs []Forwarder) error {
	h.adopted = fs
	return nil
}

// TestForwarderHooks: the forwarders are collected from every
// ForwarderHook and marked with its name; when one hook cannot hand off
// (a connection is forwarded) the ones paused before serve again; the
// forwarders passed back go to their hook and are closed afterwards.
func TestForwarderHooks(t *testing.T) {
	var log []string
	target := netip.MustParseAddrPort("10.88.0.5:80")
	a := &fwdHook{name: "network", fs: []Forwarder{{Owner: "bridge", Proto: "tcp", Target: target}}, log: &log}
	b := &fwdHook{name: "other", log: &log}
	e := &Engine{Hooks: []Hook{a, keepHook{}, b}}
	fs, resume, err := e.handOffForwarders(&Container{Name: "web"})
	if err != nil || len(fs) != 1 || fs[0].Hook != "network" || fs[0].Owner != "bridge" {
		t.Fatalf("handOffForwarders = %+v, %v", fs, err)
	}
	resume()
	if got := strings.Join(log, ", "); got != "handoff network, handoff other, resume network, resume other" {
		t.Errorf("calls: %s", got)
	}

	log = nil
	b.err = fmt.Errorf("port 8080: %w", ErrForwarding)
	if _, _, err := e.handOffForwarders(&Container{Name: "web"}); !errors.Is(err, ErrForwarding) || err.Error() != "other: port 8080: a forwarded connection is open" {
		t.Errorf("busy hook: %v", err)
	}
	if got := strings.Join(log, ", "); got != "handoff network, handoff other, resume network" {
		t.Errorf("calls: %s", got)
	}

	f1, f2 := openNull(t), openNull(t)
	e.adoptForwarders(context.Background(), &Container{Name: "web"}, []Forwarder{
		{Hook: "network", Owner: "bridge", Proto: "tcp", Target: target, Conn: f1},
		{Hook: "gone", Owner: "x", Proto: "udp", Target: target, Conn: f2},
	})
	if len(a.adopted) != 1 || a.adopted[0].Conn != f1 || b.adopted != nil {
		t.Errorf("adopted: network %+v, other %+v", a.adopted, b.adopted)
	}
	for _, f := range []*os.File{f1, f2} {
		if _, err := f.Stat(); !errors.Is(err, os.ErrClosed) {
			t.Errorf("%s after adoption: %v, want closed", f.Name(), err)
		}
	}
}

func openNull(t *testing.T) *os.File {
	t.Helper()
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
