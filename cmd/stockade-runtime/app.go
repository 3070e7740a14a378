package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"syscall"

	"github.com/stockade/stockade/logging"
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
	err := r.main(ctx, args[1:], runtime.GOOS, syscall.Getenv)
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

// setup applies the global flags: the log's format, level and file, the
// state directory and the runc to drive.
func (r *rt) setup(g globalFlags) error {
	format, err := logging.ParseFormat(g.logFormat)
	if err != nil {
		return err
	}
	r.format = format
	level, err := logging.ParseLevel(g.logLevel)
	if err != nil {
		return err
	}
	if g.debug {
		level = slog.LevelDebug
	}
	if g.log != "" {
		f, err := os.OpenFile(g.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("log file: %w", err)
		}
		r.logOut = f
	}
	r.root = g.root
	r.runc = g.runc
	r.log = logging.New(r.logOut, format, level)
	return nil
}
