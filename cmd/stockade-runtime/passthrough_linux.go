package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/stockade/stockade/linux/runcstate"
	"github.com/stockade/stockade/logging"
)

// execPassThrough answers args (without the program name) itself when it
// can (direct), else replaces this process with runc, when they are a
// pass-through command (see passThrough) of a container that exists (or
// is to be created). It returns only when it did neither: then the full command line runs
// the command, with stockade-runtime's own errors (the container does not
// exist, a bad flag, a runtime that is missing).
func execPassThrough(args []string) {
	g, inv, argv, ok := passThrough(args, syscall.Getenv)
	if !ok {
		return
	}
	// A container runc has no state for is the error path: leave it to the
	// runtime, which says so in stockade-runtime's words (and lets a forced
	// delete succeed).
	_, err := os.Stat(filepath.Join(runcRoot(g.root), inv.ID))
	if inv.Command == "create" {
		// The errors stockade-runtime words itself: a container that
		// exists, a bundle without config.json. What runc refuses past
		// these is in runc's words, as under containerd with runc.
		if err == nil {
			return
		}
		if fi, err := os.Stat(filepath.Join(inv.Bundle, "config.json")); err != nil || !fi.Mode().IsRegular() {
			return
		}
	} else if err != nil {
		return
	} else if inv.Command == "exec" && !plainProcess(inv.Process) {
		return
	}
	// An absolute --runc needs no search (a missing one fails the exec,
	// and the full command line reports it).
	path := g.runc
	if !filepath.IsAbs(path) {
		var err error
		if path, err = exec.LookPath(path); err != nil {
			return
		}
	}
	if direct(g, inv, path) {
		os.Exit(0)
	}
	syscall.Exec(path, append([]string{filepath.Base(path)}, argv...), syscall.Environ())
}

// direct does the pass-through command inv itself from runc's state
// directory (package runcstate) and tells whether it did: when runc at
// path is 1.1, no --debug is asked, and runcstate is sure of the work.
// Otherwise (false) nothing was changed and runc is to run the command.
// A failure after the work began (a started container, a removed state)
// is printed as stockade-runtime's error, exit 1.
func direct(g globalFlags, inv invocation, path string) bool {
	switch {
	case inv.Command == "kill" && inv.All: // runc's freezing of the cgroup
		return false
	case inv.Command == "state", inv.Command == "start", inv.Command == "kill", inv.Command == "delete",
		inv.Command == "pause", inv.Command == "resume":
	default:
		return false
	}
	if g.debug || g.logLevel == "debug" {
		return false
	}
	if inv.Command == "start" {
		if _, ok := syscall.Getenv("NOTIFY_SOCKET"); ok {
			return false // runc's sd_notify relay
		}
	}
	c, err := runcstate.Open(context.Background(), runcRoot(g.root), inv.ID, path)
	if err != nil {
		return false
	}
	switch inv.Command {
	case "state":
		err = c.State(os.Stdout)
	case "start":
		err = c.Start()
	case "kill":
		err = c.Kill(inv.Signal)
	case "delete":
		err = c.Delete()
	case "pause":
		err = c.Pause()
	case "resume":
		err = c.Resume()
	}
	if errors.Is(err, runcstate.ErrFallBack) {
		return false
	}
	// runc creates its --log file whatever happens; containerd reads the
	// last error back from it.
	var logFile *os.File
	if g.log != "" {
		logFile, _ = os.OpenFile(g.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	}
	if err != nil {
		err = fmt.Errorf("runc %s %s: %w", inv.Command, inv.ID, err)
		format, ferr := logging.ParseFormat(g.logFormat)
		if ferr != nil {
			format = logging.Text
		}
		logging.Error(os.Stderr, format, "stockade-runtime", err)
		if logFile != nil {
			logging.Error(logFile, logging.JSON, "stockade-runtime", err)
		}
		os.Exit(1)
	}
	if logFile != nil {
		logFile.Close()
	}
	return true
}

// plainProcess tells whether the process file at path is one runc execs
// as stockade-runtime would: readable JSON with a working directory (the
// full command line defaults it to /, runc refuses it) and no terminal.
func plainProcess(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var p struct {
		Cwd      string `json:"cwd"`
		Terminal bool   `json:"terminal"`
	}
	return json.Unmarshal(data, &p) == nil && p.Cwd != "" && !p.Terminal
}
