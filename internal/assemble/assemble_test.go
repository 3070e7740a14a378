package assemble

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/stockade/stockade/config"
	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/internal/testenv"
)

// nriLike stands for a hook only stockade links.
type nriLike struct{ engine.NopHook }

func (nriLike) Name() string { return "nri-like" }

// TestMonitorCommand: the engine's monitor and health checker are the
// lean stockade-supervisor next to stockade when it is there and
// executable and no hook of MoreHooks is in the engine, stockade
// otherwise; both get the same global flags and command.
func TestMonitorCommand(t *testing.T) {
	testenv.RequireRoot(t, "the network driver")
	testenv.RequireCommand(t, "runc")
	for _, tt := range []struct {
		name       string
		supervisor os.FileMode // 0: none
		more       bool
		want       string
	}{
		{"lean", 0o755, false, SupervisorName},
		{"a hook of stockade's", 0o755, true, "stockade"},
		{"no supervisor", 0, false, "stockade"},
		{"not executable", 0o644, false, "stockade"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			bin := filepath.Join(dir, "bin")
			os.Mkdir(bin, 0o755)
			if tt.supervisor != 0 {
				if err := os.WriteFile(filepath.Join(bin, SupervisorName), []byte("#!/bin/sh\n"), tt.supervisor); err != nil {
					t.Fatal(err)
				}
			}
			cfg := config.Defaults(runtime.GOOS)
			cfg.Root, cfg.State, cfg.Snapshotter = filepath.Join(dir, "root"), filepath.Join(dir, "state"), "copy"
			p := &Parts{Config: cfg, ConfigFile: "/etc/s.toml", Log: slog.New(slog.DiscardHandler), Stockade: filepath.Join(bin, "stockade")}
			if tt.more {
				p.MoreHooks = func(*engine.Engine) ([]engine.Hook, error) { return []engine.Hook{nriLike{}}, nil }
			}
			defer p.Close()
			e, err := p.Engine(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			mon := e.MonitorCommand("ID", true)
			if got := filepath.Base(mon.Path); got != tt.want {
				t.Errorf("monitor %s, want %s", mon.Path, tt.want)
			}
			wantArgs := append(p.GlobalArgs(), "monitor", "--wait-attach", "ID")
			if !slices.Equal(mon.Args[1:], wantArgs) {
				t.Errorf("monitor args %q, want %q", mon.Args[1:], wantArgs)
			}
			health := e.HealthCommand("ID")
			if got := filepath.Base(health.Path); got != tt.want {
				t.Errorf("health checker %s, want %s", health.Path, tt.want)
			}
			if !slices.Contains(health.Args, "--config") || !slices.Equal(health.Args[len(health.Args)-3:], []string{"healthcheck", "monitor", "ID"}) {
				t.Errorf("health checker args %q", health.Args)
			}
			if n := len(e.Hooks); n != 2+map[bool]int{true: 1}[tt.more] {
				t.Errorf("%d hooks", n)
			}
		})
	}
}

// TestGlobalArgs: the effective settings, --config only when the command
// line named a file.
func TestGlobalArgs(t *testing.T) {
	cfg := config.Defaults(runtime.GOOS)
	cfg.Root, cfg.State, cfg.Snapshotter = "/r", "/s", "zfs"
	p := &Parts{Config: cfg}
	want := []string{"--root", "/r", "--state", "/s", "--log-level", cfg.LogLevel, "--log-format", cfg.LogFormat, "--snapshotter", "zfs"}
	if got := p.GlobalArgs(); !slices.Equal(got, want) {
		t.Errorf("GlobalArgs = %q, want %q", got, want)
	}
	p.ConfigFile = "/c.toml"
	if got := p.GlobalArgs(); !slices.Equal(got, append(want, "--config", "/c.toml")) {
		t.Errorf("with a config file: %q", got)
	}
}

// TestMonitorCommandBeforeEngine: before the engine is opened (a run's
// early spawn), NeedsStockade alone decides.
func TestMonitorCommandBeforeEngine(t *testing.T) {
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, SupervisorName), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		needs bool
		want  string
	}{{false, SupervisorName}, {true, "stockade"}} {
		p := &Parts{Config: config.Defaults(runtime.GOOS), Stockade: filepath.Join(bin, "stockade"), NeedsStockade: tt.needs}
		cmd := p.MonitorCommand(engine.PendingMonitorID, false)
		if got := filepath.Base(cmd.Path); got != tt.want || cmd.Args[len(cmd.Args)-1] != engine.PendingMonitorID {
			t.Errorf("NeedsStockade %v: %q, want %s", tt.needs, cmd.Args, tt.want)
		}
	}
}

// TestRunHealthMonitorBadStart: a --run-started that is not an RFC 3339
// time is an error naming it, before anything is opened.
func TestRunHealthMonitorBadStart(t *testing.T) {
	p := &Parts{Config: config.Defaults(runtime.GOOS)}
	err := p.RunHealthMonitor(context.Background(), "ID", true, "yesterday")
	if err == nil || err.Error() != `healthcheck monitor: --run-started "yesterday": parsing time "yesterday" as "2006-01-02T15:04:05.999999999Z07:00": cannot parse "yesterday" as "2006"` {
		t.Errorf("error %v", err)
	}
	if p.eng != nil {
		t.Error("the engine was opened")
	}
}

// TestFullBinary: what the lean build leaves out (the network name
// server) is started as stockade-full when it is next to stockade and
// executable, as stockade otherwise (which hands over itself).
func TestFullBinary(t *testing.T) {
	for _, tt := range []struct {
		name  string
		mode  os.FileMode // of stockade-full, 0: none
		self  string      // the stockade binary's name
		wantF bool
	}{
		{"lean, full next to it", 0o755, "stockade", true},
		{"lean, no full", 0, "stockade", false},
		{"full not executable", 0o644, "stockade", false},
		{"full itself", 0o755, FullName, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.mode != 0 {
				if err := os.WriteFile(filepath.Join(dir, FullName), []byte("#!/bin/sh\n"), tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			p := &Parts{Stockade: filepath.Join(dir, tt.self)}
			want := p.Stockade
			if tt.wantF {
				want = filepath.Join(dir, FullName)
			}
			if got := p.full(); got != want {
				t.Errorf("full() = %s, want %s", got, want)
			}
		})
	}
}
