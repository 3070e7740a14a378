package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/config"
	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/internal/assemble"
	"github.com/stockade/stockade/internal/phase"
	"github.com/stockade/stockade/logging"
	"github.com/stockade/stockade/version"
)

// exitInternal is the exit code of stockade's own errors, as docker and
// podman use it.
const exitInternal = 125

// exitError carries an exit code other than exitInternal, such as a
// container's own exit status. An empty message prints nothing.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// app is what every command reaches: the effective configuration and the
// logger, built once the global flags are parsed.
type app struct {
	// args is the command line (execFull runs it again).
	args []string
	// parts opens the engine and its stores once per command, when it
	// first needs them (set up by setup); closers and parts.Close
	// release what was opened when the command ends.
	parts   *assemble.Parts
	svc     *image.Service // the image service (imageService), once opened
	closers []func()
	// early is what main did before the command line was parsed
	// (startRunMonitor), or nil; pending is the monitor it started for
	// run, which run takes; close ends one that no run took.
	early   *earlyRun
	pending *engine.PendingMonitor

	cfg    config.Config
	log    *slog.Logger
	timing *phase.Timer // --debug-timing (timing.go)
	format logging.Format
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// run runs the command line args and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runEarly(ctx, args, stdin, stdout, stderr, nil)
}

// runEarly is run with what main did before (startRunMonitor), or nil.
func runEarly(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, early *earlyRun) int {
	a := &app{args: args, stdin: stdin, stdout: stdout, stderr: stderr, format: guessFormat(args), early: early}
	if early != nil {
		a.pending, a.timing = early.pending, early.timing
	}
	var notFound error
	cliApp := &cli.App{
		Name:                   "stockade",
		Usage:                  "a FreeBSD-first container runtime: OCI images on ZFS, containers as jails",
		Version:                strings.TrimSpace(version.String("stockade")),
		HideVersion:            false,
		Reader:                 stdin,
		Writer:                 stdout,
		ErrWriter:              stderr,
		UseShortOptionHandling: true,
		Suggest:                true,
		// --key FILE:password may hold commas: repeat flags instead.
		DisableSliceFlagSeparator: true,
		Flags:                     globalFlags(),
		Before:                    a.setup,
		Commands:                  a.commands(),
		ExitErrHandler:            func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return flagError(err, globalFlags())
		},
		CommandNotFound: func(c *cli.Context, name string) {
			notFound = fmt.Errorf("unknown command %q (see 'stockade --help')", name)
		},
	}
	cliApp.Flags = cacheFlagNames(cliApp.Flags)
	cacheCommandFlagNames(cliApp.Commands)
	cli.VersionPrinter = func(c *cli.Context) { fmt.Fprint(c.App.Writer, version.String("stockade")) }
	err := cliApp.RunContext(ctx, args)
	a.close()
	a.stopTiming()
	if errors.Is(err, errNeedsFull) || leanBuild && errors.Is(err, image.ErrNotInBuild) {
		err = a.execFull()
	}
	if err == nil {
		err = notFound
	}
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			logging.Error(stderr, a.format, "stockade", ee.err)
		}
		return ee.code
	}
	logging.Error(stderr, a.format, "stockade", err)
	return exitInternal
}

// close releases what the command opened.
func (a *app) close() {
	a.pending.Close()
	a.pending = nil
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
	if a.parts != nil {
		a.parts.Close()
	}
}

// arity wraps an action with a check of its number of positional
// arguments (max < 0: no upper bound).
func arity(min, max int, fn cli.ActionFunc) cli.ActionFunc {
	return func(c *cli.Context) error {
		if err := args(c, min, max); err != nil {
			return err
		}
		return fn(c)
	}
}

// guessFormat finds --log-format before the flags are parsed, so that even
// a flag parsing error is reported in the requested format.
func guessFormat(args []string) logging.Format {
	for i, arg := range args {
		v, ok := strings.CutPrefix(arg, "--log-format=")
		if !ok && arg == "--log-format" && i+1 < len(args) {
			v, ok = args[i+1], true
		}
		if ok && v == string(logging.JSON) {
			return logging.JSON
		}
	}
	return logging.Text
}

func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Usage: "configuration file", Value: config.DefaultPath(runtime.GOOS), EnvVars: []string{"STOCKADE_CONFIG"}},
		&cli.StringFlag{Name: "root", Usage: "data root (images, snapshots, metadata) (default from config)"},
		&cli.StringFlag{Name: "state", Usage: "run-state directory (default from config)"},
		&cli.StringFlag{Name: "snapshotter", Usage: "storage backend: " + strings.Join(config.Snapshotters, ", ")},
		&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error"},
		&cli.StringFlag{Name: "log-format", Usage: "text or json"},
		&cli.BoolFlag{Name: "debug-timing", Usage: "print how long each phase of the command took (stderr)"},
	}
}

// setup loads the configuration (defaults, file, environment, then flags)
// and builds the logger.
func (a *app) setup(c *cli.Context) error {
	a.startTiming(c)
	flags, path, explicit := cliGlobals(c)
	cfg, same := a.early.config(flags, path, explicit)
	if !same {
		// A monitor started with another configuration is not run's.
		a.pending.Close()
		a.pending = nil
		var err error
		if cfg, err = config.LoadHostFlags(path, explicit, flags); err != nil {
			return err
		}
	}
	a.format, _ = logging.ParseFormat(cfg.LogFormat)
	level, _ := logging.ParseLevel(cfg.LogLevel)
	a.cfg = cfg
	a.log = logging.New(a.stderr, a.format, level)
	if leanBuild && cfg.NRI.On() {
		return errNeedsFull // every command then runs with NRI's hooks
	}
	// Needed only by commands that start a monitor (Parts.Engine says so).
	self, _ := os.Executable()
	a.parts = &assemble.Parts{Config: cfg, Log: a.log, Stockade: self, MoreHooks: a.nriHooks,
		NeedsStockade: cfg.NRI.On()} // as nriHooks has hooks
	if c.IsSet("config") {
		a.parts.ConfigFile = c.String("config")
	}
	phase.Mark(c.Context, "config")
	return nil
}

// cliGlobals returns the global flags of c that set configuration keys
// (config.FlagKeys, by name), the configuration file's path and whether
// it was given (--config or $STOCKADE_CONFIG).
func cliGlobals(c *cli.Context) (flags map[string]string, path string, explicit bool) {
	flags = map[string]string{}
	for _, name := range config.FlagKeys {
		if c.IsSet(name) {
			flags[name] = c.String(name)
		}
	}
	return flags, c.String("config"), c.IsSet("config")
}

func (a *app) commands() []*cli.Command {
	cmds := append(append(append(a.imageCommands(), a.containerCommands()...), a.snapshotCommands()...), a.systemCommand())
	cmds = append(cmds, a.networkCommands()...)
	cmds = append(cmds, a.volumeCommands()...)
	cmds = append(cmds, a.familiarCommands()...) // pause.go
	cmds = append(cmds, a.bootCommands()...)
	cmds = append(cmds, a.loginCommands()...)  // login.go
	cmds = append(cmds, a.buildCommand())      // build.go
	cmds = append(cmds, a.commitCommands()...) // commit.go: diff, commit
	cmds = append(cmds, a.versionCommand(), a.infoCommand())
	cmds = append(cmds, a.completionCommands()...)
	oneLineUsageErrors(cmds, "")
	return cmds
}

// oneLineUsageErrors makes a bad flag of any (sub)command a one-line error
// that names the command, instead of urfave/cli's help page.
func oneLineUsageErrors(cmds []*cli.Command, parent string) {
	for _, cmd := range cmds {
		name := strings.TrimSpace(parent + " " + cmd.Name)
		cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
			return fmt.Errorf("%s: %w", name, flagError(err, cmd.Flags))
		}
		oneLineUsageErrors(cmd.Subcommands, name)
	}
}

// args checks the number of positional arguments.
func args(c *cli.Context, min, max int) error {
	n := c.NArg()
	if n < min || (max >= 0 && n > max) {
		return fmt.Errorf("%s: wrong number of arguments (usage: %s %s)", c.Command.FullName(), c.Command.FullName(), c.Command.ArgsUsage)
	}
	return nil
}

// flagError rewrites the flag package's "flag provided but not defined:
// -memroy" as the user typed it, "unknown flag --memroy", with the closest
// known flag as a suggestion. Other errors pass unchanged.
func flagError(err error, flags []cli.Flag) error {
	name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -")
	if !ok {
		return err
	}
	typed := "--" + name
	if len(name) == 1 {
		typed = "-" + name
	}
	msg := "unknown flag " + typed
	if best := closestFlag(name, flags); best != "" {
		msg += " (did you mean " + best + "?)"
	}
	return errors.New(msg)
}

// closestFlag is the flag name nearest to name by edit distance, at most
// a third of its length away, with its dashes; "" when none is near.
func closestFlag(name string, flags []cli.Flag) string {
	best, bestDist := "", len(name)/3+1
	for _, f := range flags {
		for _, n := range f.Names() {
			if len(n) < 2 {
				continue
			}
			if d := editDistance(name, n); d < bestDist {
				best, bestDist = "--"+n, d
			}
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, with a swap of two
// neighbouring letters counted as one edit.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
