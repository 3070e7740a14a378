// Command stockade-supervisor is a container's monitor while the container
// starts and after it exits, and its health checker: `stockade monitor`
// and `stockade healthcheck monitor` without the rest of the command line.
// The engine starts it in their place (internal/assemble) when none of
// the engine's hooks needs stockade itself, which links NRI (gRPC,
// protobuf, wazero), OCI-crypt, the image builder and every command:
// this program starts in about half the time, and a container's start
// waits for its monitor.
//
// It takes stockade's global flags and one of
//
//	monitor [--wait-attach] ID
//	healthcheck monitor [--after-sleep] [--run-started TIME] ID
//
// and runs the same code as stockade does for them
// (assemble.Parts.RunMonitor, RunHealthMonitor). When the configuration
// it reads turns NRI on (it changed since the container's command chose
// this program), it executes stockade with the same arguments instead,
// in the same process, keeping the descriptors the engine passed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/stockade/stockade/config"
	"github.com/stockade/stockade/internal/assemble"
	"github.com/stockade/stockade/logging"
	"github.com/stockade/stockade/version"
)

// exitInternal is the exit code of the program's own errors, as
// stockade's.
const exitInternal = 125

func main() {
	os.Exit(run(context.Background(), os.Args, os.Stderr))
}

// invocation is a parsed command line.
type invocation struct {
	globals    map[string]string // the global flags given, by name
	configFile string            // --config or $STOCKADE_CONFIG, "" for neither
	command    string            // "monitor" or "healthcheck monitor"
	waitAttach bool
	id         string
	afterSleep bool   // healthcheck monitor --after-sleep
	runStarted string // healthcheck monitor --run-started (read by assemble)
}

const healthUsage = "healthcheck: usage: healthcheck monitor [--after-sleep] [--run-started TIME] ID"

// globalNames are stockade's global flags that take a value, as the
// engine passes them (assemble.Parts.GlobalArgs).
var globalNames = append([]string{"config"}, config.FlagKeys...)

// parse reads args (without the program's name).
func parse(args []string) (*invocation, error) {
	inv := &invocation{globals: map[string]string{}}
	fs := flag.NewFlagSet("stockade-supervisor", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	vals := map[string]*string{}
	for _, n := range globalNames {
		vals[n] = fs.String(n, "", "")
	}
	showVersion := fs.Bool("version", false, "")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *showVersion {
		inv.command = "version"
		return inv, nil
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "version" {
			inv.globals[f.Name] = f.Value.String()
		}
	})
	inv.configFile = inv.globals["config"]
	if inv.configFile == "" {
		inv.configFile = os.Getenv("STOCKADE_CONFIG")
	}
	rest := fs.Args()
	switch {
	case len(rest) > 0 && rest[0] == "monitor":
		sub := flag.NewFlagSet("monitor", flag.ContinueOnError)
		sub.SetOutput(io.Discard)
		wait := sub.Bool("wait-attach", false, "")
		if err := sub.Parse(rest[1:]); err != nil {
			return nil, fmt.Errorf("monitor: %w", err)
		}
		if sub.NArg() != 1 {
			return nil, errors.New("monitor: wrong number of arguments (usage: monitor [--wait-attach] ID)")
		}
		inv.command, inv.waitAttach, inv.id = "monitor", *wait, sub.Arg(0)
	case len(rest) > 0 && rest[0] == "healthcheck":
		if len(rest) < 2 || rest[1] != "monitor" {
			return nil, errors.New(healthUsage)
		}
		sub := flag.NewFlagSet("healthcheck monitor", flag.ContinueOnError)
		sub.SetOutput(io.Discard)
		after := sub.Bool("after-sleep", false, "")
		started := sub.String("run-started", "", "")
		if err := sub.Parse(rest[2:]); err != nil {
			return nil, fmt.Errorf("healthcheck monitor: %w", err)
		}
		if sub.NArg() != 1 {
			return nil, errors.New(healthUsage)
		}
		inv.command, inv.id, inv.afterSleep, inv.runStarted = "healthcheck monitor", sub.Arg(0), *after, *started
	case len(rest) == 0:
		return nil, errors.New("no command (monitor or healthcheck monitor; started by stockade)")
	default:
		return nil, fmt.Errorf("unknown command %q (monitor or healthcheck monitor; started by stockade)", rest[0])
	}
	return inv, nil
}

// loadConfig is the effective configuration of inv, as stockade's would
// be for the same flags.
func loadConfig(inv *invocation) (config.Config, error) {
	path, explicit := inv.configFile, inv.configFile != ""
	if path == "" {
		path = config.DefaultPath(runtime.GOOS)
	}
	return config.LoadHostFlags(path, explicit, inv.globals)
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	format := logging.Text
	fail := func(err error) int {
		logging.Error(stderr, format, "stockade-supervisor", err)
		return exitInternal
	}
	inv, err := parse(args[1:])
	if err != nil {
		return fail(err)
	}
	if inv.command == "version" {
		fmt.Fprint(os.Stdout, version.String("stockade-supervisor"))
		return 0
	}
	self, err := os.Executable()
	if err != nil {
		return fail(fmt.Errorf("find the program: %w", err))
	}
	// NRI's hooks are in stockade-full, the full build of stockade; the
	// lean stockade would only run it in turn.
	stockade := filepath.Join(filepath.Dir(self), assemble.FullName)
	if _, err := os.Stat(stockade); err != nil {
		stockade = filepath.Join(filepath.Dir(self), "stockade")
	}
	cfg, err := loadConfig(inv)
	if err != nil {
		return fail(err)
	}
	format, _ = logging.ParseFormat(cfg.LogFormat)
	level, _ := logging.ParseLevel(cfg.LogLevel)
	log := logging.New(stderr, format, level)
	if cfg.NRI.On() {
		// NRI's hooks are in stockade only.
		log.Info("NRI is on: stockade takes over", "command", inv.command, "id", inv.id)
		args[0] = stockade
		err := syscall.Exec(stockade, args, os.Environ())
		return fail(fmt.Errorf("NRI is on: exec %s: %w", stockade, err))
	}
	p := &assemble.Parts{Config: cfg, ConfigFile: inv.globals["config"], Log: log, Stockade: stockade}
	defer p.Close()
	switch inv.command {
	case "monitor":
		err = p.RunMonitor(ctx, inv.id, inv.waitAttach)
	default:
		err = p.RunHealthMonitor(ctx, inv.id, inv.afterSleep, inv.runStarted)
	}
	if err != nil {
		return fail(err)
	}
	return 0
}
