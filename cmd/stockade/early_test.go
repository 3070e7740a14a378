package main

import (
	"io"
	"maps"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestGlobalArgs: main's reading of the global flags (parseGlobalArgs,
// before the command line is parsed) selects the configuration setup's
// reading (urfave/cli, cliGlobals) selects, or declines.
func TestGlobalArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     string // $STOCKADE_CONFIG
		ok      bool
		command string
		timing  bool
	}{
		{"plain", []string{"run", "img"}, "", true, "run", false},
		{"flags with values", []string{"--root", "/r", "--state=/s", "--log-level", "debug", "run", "-d", "img"}, "", true, "run", false},
		{"config and timing", []string{"--config", "/etc/x.toml", "--debug-timing", "run", "img"}, "", true, "run", true},
		{"config from the environment", []string{"--snapshotter", "copy", "ps"}, "/e.toml", true, "ps", false},
		{"single dash", []string{"-root", "/r", "run", "img"}, "", true, "run", false},
		{"a value that looks like the command", []string{"--root", "run", "ps"}, "", true, "ps", false},
		{"help", []string{"--help"}, "", false, "", false},
		{"version", []string{"--version"}, "", false, "", false},
		{"not a global flag", []string{"--rm", "run", "img"}, "", false, "", false},
		{"nothing", nil, "", false, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("STOCKADE_CONFIG", tt.env)
			}
			args := append([]string{"stockade"}, tt.args...)
			g, ok := parseGlobalArgs(args)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			if g.rest[0] != tt.command || g.debugTiming != tt.timing {
				t.Errorf("command %q, timing %v; want %q, %v", g.rest, g.debugTiming, tt.command, tt.timing)
			}
			var flags map[string]string
			var path string
			var explicit bool
			app := &cli.App{Writer: io.Discard, ErrWriter: io.Discard, Flags: cacheFlagNames(globalFlags()),
				Before: func(c *cli.Context) error {
					flags, path, explicit = cliGlobals(c)
					return nil
				},
				Commands: []*cli.Command{
					{Name: "run", SkipFlagParsing: true, Action: func(*cli.Context) error { return nil }},
					{Name: "ps", Action: func(*cli.Context) error { return nil }},
				},
			}
			if err := app.Run(args); err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(flags, g.flags) || path != g.configPath || explicit != g.explicit {
				t.Errorf("main read %v %q %v, setup %v %q %v", g.flags, g.configPath, g.explicit, flags, path, explicit)
			}
			e := &earlyRun{globals: g, pending: nil}
			if _, same := e.config(flags, path, explicit); same {
				t.Error("config() without a monitor started: want setup to load its own")
			}
		})
	}
}

// TestStartRunMonitorDeclines: main starts nothing for a command line
// that is not a run, or asks for help.
func TestStartRunMonitorDeclines(t *testing.T) {
	for _, args := range [][]string{
		{"stockade", "ps"},
		{"stockade", "run", "--help"},
		{"stockade", "run", "img", "-h"},
		{"stockade", "--help"},
		{"stockade", "--root", "/r", "pull", "run"},
	} {
		if e := startRunMonitor(t.Context(), args); e != nil {
			t.Errorf("%q: started %+v", args, e)
		}
	}
}
