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

	"github.com/stockade/stockade/logging"
	"github.com/stockade/stockade/version"
)

// defaultRoot is where container state lives unless --root says otherwise.
func defaultRoot(goos string) string {
	if goos == "freebsd" {
		return "/var/run/stockade-runtime"
	}
	return "/run/stockade-runtime"
}

// rt carries what the global flags configure.
type rt struct {
	root   string
	runc   string // the runc-compatible binary driven on Linux
	log    *slog.Logger
	logOut io.Writer // the --log file, or stderr
	format logging.Format
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// newFile wraps an inherited descriptor (--preserve-fds); nil is
	// os.NewFile. Tests replace it: an *os.File of a descriptor the test
	// process does not own would close it when collected.
	newFile func(fd uintptr, name string) *os.File
	// getpgrp returns this process's process group; nil is
	// syscall.Getpgrp. Tests replace it.
	getpgrp func() int
}

// run runs the command line and returns the exit code: 0, or 1 on any
// error, as runc does; exec without --detach exits with its process's
// status, as runc exec does. The container commands hand os.Stdin, stdout
// and stderr to the container.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	r := &rt{stdin: os.Stdin, stdout: stdout, stderr: stderr, logOut: stderr}
	var notFound error
	app := &cli.App{
		Name:                   "stockade-runtime",
		Usage:                  "OCI runtime for FreeBSD jails (runj and runc compatible command line)",
		Version:                strings.TrimSpace(version.String("stockade-runtime")),
		Writer:                 stdout,
		ErrWriter:              stderr,
		UseShortOptionHandling: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root", Value: defaultRoot(runtime.GOOS), Usage: "directory for container state"},
			&cli.StringFlag{Name: "log", Usage: "write logs (and the final error) to this file instead of stderr"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
			&cli.BoolFlag{Name: "debug", Usage: "same as --log-level debug"},
			&cli.BoolFlag{Name: "systemd-cgroup", Usage: "accepted for runc compatibility; no effect on FreeBSD", Hidden: true},
			&cli.StringFlag{Name: "runc", Value: "runc", EnvVars: []string{"STOCKADE_RUNC"}, Usage: "on Linux, the runtime to drive: runc, crun or a path"},
		},
		Before:         r.setup,
		Commands:       r.commands(),
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   func(_ *cli.Context, err error, _ bool) error { return err },
		CommandNotFound: func(_ *cli.Context, name string) {
			notFound = fmt.Errorf("unknown command %q (see 'stockade-runtime --help')", name)
		},
	}
	cli.VersionPrinter = func(c *cli.Context) { fmt.Fprint(c.App.Writer, version.String("stockade-runtime")) }
	err := app.RunContext(ctx, args)
	if err == nil {
		err = notFound
	}
	if err == nil {
		return 0
	}
	var status exitStatus
	if errors.As(err, &status) {
		return int(status)
	}
	// runc prints its own fatal error on the stderr it shares with the
	// container (create, exec): in text, that line is the one line.
	var reported interface{ AlreadyReported() bool }
	if !(r.format == logging.Text && errors.As(err, &reported) && reported.AlreadyReported()) {
		logging.Error(stderr, r.format, "stockade-runtime", err)
	}
	if r.logOut != stderr {
		// containerd reads the last error back from the --log file.
		logging.Error(r.logOut, logging.JSON, "stockade-runtime", err)
	}
	return 1
}

func (r *rt) setup(c *cli.Context) error {
	format, err := logging.ParseFormat(c.String("log-format"))
	if err != nil {
		return err
	}
	r.format = format
	level, err := logging.ParseLevel(c.String("log-level"))
	if err != nil {
		return err
	}
	if c.Bool("debug") {
		level = slog.LevelDebug
	}
	if path := c.String("log"); path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("log file: %w", err)
		}
		r.logOut = f
	}
	r.root = c.String("root")
	r.runc = c.String("runc")
	r.log = logging.New(r.logOut, format, level)
	return nil
}

func (r *rt) commands() []*cli.Command {
	cmds := []*cli.Command{
		{
			Name:   "features",
			Usage:  "print the features this runtime implements, as JSON",
			Action: r.features,
		},
	}
	cmds = append(cmds, r.containerCommands()...)
	for _, cmd := range cmds {
		name := cmd.Name
		cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return cmds
}
