package main

import (
	"context"
	"flag"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"

	"github.com/stockade/stockade/config"
	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/internal/assemble"
	"github.com/stockade/stockade/internal/phase"
)

// globalArgs is what precedes the command on a command line: the global
// flags, read with package flag as urfave/cli reads them, and what
// configuration they select.
type globalArgs struct {
	flags       map[string]string // config.FlagKeys given, by name
	configPath  string            // --config, $STOCKADE_CONFIG or the default
	explicit    bool              // --config or $STOCKADE_CONFIG was given
	debugTiming bool
	rest        []string // the command and its arguments
}

// parseGlobalArgs reads the global flags of args (args[0] is the
// program). ok is false for a command line they do not parse, or that
// asks for help or the version: urfave/cli then says what it says.
func parseGlobalArgs(args []string) (g globalArgs, ok bool) {
	if len(args) < 2 {
		return g, false
	}
	fs := flag.NewFlagSet("stockade", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	vals := map[string]*string{"config": fs.String("config", "", "")}
	for _, k := range config.FlagKeys {
		vals[k] = fs.String(k, "", "")
	}
	timing := fs.Bool("debug-timing", false, "")
	if fs.Parse(args[1:]) != nil {
		return g, false // -h, --help, --version, a flag that is not global
	}
	g.flags = map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "config" && f.Name != "debug-timing" {
			g.flags[f.Name] = f.Value.String()
		}
	})
	g.configPath, g.explicit = *vals["config"], *vals["config"] != ""
	if !g.explicit {
		g.configPath, g.explicit = os.LookupEnv("STOCKADE_CONFIG")
	}
	if !g.explicit {
		g.configPath = config.DefaultPath(runtime.GOOS)
	}
	g.debugTiming, g.rest = *timing, fs.Args()
	return g, true
}

// earlyRun is what main did before the command line was parsed, for a
// `run`: the configuration loaded, the timing begun and the monitor
// started.
type earlyRun struct {
	globals globalArgs
	cfg     config.Config
	timing  *phase.Timer
	pending *engine.PendingMonitor
}

// startRunMonitor starts the monitor of a `run` first thing, before the
// command line is built and parsed (over a millisecond for stockade's
// command tree and run's hundred flags, and the configuration after it):
// the monitor's start-up (exec, package initialisation, its stores) is
// what a foreground run waits for once the container is made. Whether
// run attaches (-d) is not known yet, so the monitor is started able to
// wait for an attach, and a detached run tells it otherwise
// (engine.MonitorStart.Detach). It returns nil for any other command line
// (or one that asks for help). When the configuration does not load, or
// turns NRI on in the lean build, it starts no monitor (but the timing):
// setup then reports the error or hands over as it would have, and run
// starts the monitor itself.
func startRunMonitor(ctx context.Context, args []string) *earlyRun {
	g, ok := parseGlobalArgs(args)
	if !ok || len(g.rest) == 0 || g.rest[0] != "run" || slices.Contains(g.rest, "-h") || slices.Contains(g.rest, "--help") {
		return nil
	}
	e := &earlyRun{globals: g}
	if g.debugTiming {
		e.timing = newTiming()
		ctx = phase.With(ctx, e.timing)
	}
	cfg, err := config.LoadHostFlags(g.configPath, g.explicit, g.flags)
	if err != nil || leanBuild && cfg.NRI.On() {
		return e
	}
	e.cfg = cfg
	phase.Mark(ctx, "config (run's monitor)")
	self, _ := os.Executable()
	parts := &assemble.Parts{Config: cfg, Stockade: self, NeedsStockade: cfg.NRI.On()}
	if g.explicit {
		parts.ConfigFile = g.configPath
	}
	if e.pending, err = engine.SpawnMonitor(ctx, parts.MonitorCommand, true); err == nil {
		phase.Mark(ctx, "monitor spawn (pending)")
	}
	// While the command line is parsed and the stores opened, and later
	// waited for, the first encodings of the create's writes are made
	// ready on the other core.
	go engine.PrewarmCreate()
	return e
}

// config returns the configuration startRunMonitor loaded when setup
// would load the same (the same flags and file), or false.
func (e *earlyRun) config(flags map[string]string, path string, explicit bool) (config.Config, bool) {
	if e == nil || e.pending == nil || path != e.globals.configPath || explicit != e.globals.explicit ||
		!maps.Equal(flags, e.globals.flags) {
		return config.Config{}, false
	}
	return e.cfg, true
}
