package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/ociruntime"
)

// exitStatus is the error of a command that ends with that exit code and
// says nothing more: exec passes its process's status on, as runc does.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// container parses and runs one container command.
func (r *rt) container(ctx context.Context, name string, args []string) error {
	inv, err := parseInvocation(name, args)
	if errors.Is(err, flag.ErrHelp) {
		_, err := io.WriteString(r.stdout, helpText(name))
		return err
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	backend, err := r.newRuntime()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return r.dispatch(ctx, backend, inv)
}

// dispatch runs a parsed command on a runtime.
func (r *rt) dispatch(ctx context.Context, backend ociruntime.Runtime, inv *invocation) error {
	switch inv.Command {
	case "create":
		return backend.Create(ctx, inv.ID, ociruntime.CreateOpts{
			Bundle:  inv.Bundle,
			PidFile: inv.PidFile,
			IO:      r.stdio(inv.ConsoleSocket != "", inv.ConsoleSocket, inv.PreserveFDs),
		})
	case "start":
		return backend.Start(ctx, inv.ID)
	case "state":
		st, err := backend.State(ctx, inv.ID)
		if err != nil {
			return err
		}
		return r.printJSON(st)
	case "kill":
		if inv.Pid != 0 {
			return killPid(ctx, backend, inv)
		}
		return backend.Kill(ctx, inv.ID, inv.Signal, inv.All)
	case "pause", "resume":
		p, ok := backend.(ociruntime.Pauser)
		if !ok {
			return fmt.Errorf("%s %s: this runtime cannot freeze a container", inv.Command, inv.ID)
		}
		if inv.Command == "pause" {
			return p.Pause(ctx, inv.ID)
		}
		return p.Resume(ctx, inv.ID)
	case "delete":
		return backend.Delete(ctx, inv.ID, inv.Force)
	case "exec":
		proc, err := r.execProcess(ctx, backend, inv)
		if err != nil {
			return fmt.Errorf("exec %s: %w", inv.ID, err)
		}
		opts := ociruntime.ExecOpts{
			Process: proc,
			PidFile: inv.PidFile,
			Detach:  inv.Detach,
			IO:      r.stdio(inv.TTY, inv.ConsoleSocket, inv.PreserveFDs),
		}
		if x, ok := backend.(inPlaceExecer); ok && !inv.Detach && r.canExecInPlace(opts.IO) {
			// Returns only on failure: this process became the exec's.
			return x.ExecInPlace(ctx, inv.ID, opts)
		}
		code, err := backend.Exec(ctx, inv.ID, opts)
		if err != nil {
			return err
		}
		if code != 0 && !inv.Detach {
			return exitStatus(code)
		}
		return nil
	case "list":
		list, err := backend.List(ctx)
		if err != nil {
			return err
		}
		return r.printList(list, inv)
	}
	return fmt.Errorf("unknown command %q", inv.Command)
}

// stdio is this process's standard streams, handed to the container as
// runc hands its own, with n more descriptors from 3 on.
func (r *rt) stdio(terminal bool, consoleSocket string, n int) ociruntime.IO {
	s := ociruntime.IO{
		Stdin:         r.stdin,
		Stdout:        r.stdout,
		Stderr:        r.stderr,
		Terminal:      terminal,
		ConsoleSocket: consoleSocket,
	}
	newFile := r.newFile
	if newFile == nil {
		newFile = os.NewFile
	}
	for i := range n {
		s.ExtraFiles = append(s.ExtraFiles, newFile(uintptr(3+i), fmt.Sprintf("fd%d", 3+i)))
	}
	return s
}

// execProcess returns the process exec runs: the --process file, or the
// container's own process (from its bundle's config.json) with the command
// line's arguments, as runc and runj make it. --tty, --env and --cwd apply
// to both.
func (r *rt) execProcess(ctx context.Context, backend ociruntime.Runtime, inv *invocation) (*specs.Process, error) {
	var proc specs.Process
	if inv.Process != "" {
		data, err := os.ReadFile(inv.Process)
		if err != nil {
			return nil, fmt.Errorf("process file: %w", err)
		}
		if err := json.Unmarshal(data, &proc); err != nil {
			return nil, fmt.Errorf("process file %s: %w", inv.Process, err)
		}
	} else {
		st, err := backend.State(ctx, inv.ID)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(st.Bundle, "config.json")
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("the container's config: %w", err)
		}
		var spec specs.Spec
		if err := json.Unmarshal(data, &spec); err != nil {
			return nil, fmt.Errorf("the container's config %s: %w", path, err)
		}
		if spec.Process != nil {
			proc = *spec.Process
		}
		proc.Args = inv.Args
		proc.Terminal = false
	}
	if inv.TTY {
		proc.Terminal = true
	}
	proc.Env = append(proc.Env, inv.Env...)
	if inv.Cwd != "" {
		proc.Cwd = inv.Cwd
	}
	if proc.Cwd == "" {
		proc.Cwd = "/"
	}
	return &proc, nil
}

// printJSON prints v indented, as runc prints states.
func (r *rt) printJSON(v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(r.stdout, "%s\n", data)
	return err
}

// printList prints the containers as list asks.
func (r *rt) printList(list []specs.State, inv *invocation) error {
	if inv.Quiet {
		var b strings.Builder
		for _, st := range list {
			b.WriteString(st.ID + "\n")
		}
		_, err := io.WriteString(r.stdout, b.String())
		return err
	}
	if inv.Format == "json" {
		if list == nil {
			list = []specs.State{}
		}
		data, err := json.Marshal(list)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(r.stdout, "%s\n", data)
		return err
	}
	tw := tabwriter.NewWriter(r.stdout, 0, 8, 3, ' ', 0)
	fmt.Fprint(tw, "ID\tPID\tSTATUS\tBUNDLE\n")
	for _, st := range list {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", st.ID, st.Pid, st.Status, st.Bundle)
	}
	return tw.Flush()
}

// inPlaceExecer is a runtime that can run an exec in place of the calling
// process, so that the exec's pid is the process's own: the jail
// runtime's ExecInPlace, as runj's exec does for its containerd shim,
// which signals the pid it started (`kill --pid`) and waits for it.
type inPlaceExecer interface {
	ExecInPlace(ctx context.Context, id string, opts ociruntime.ExecOpts) error
}

// processKiller is a runtime that signals one process of a container
// itself, and only when it is the container's: the jail runtime's
// KillProcess checks that the pid runs in the container's jail.
type processKiller interface {
	KillProcess(ctx context.Context, id string, pid int, sig syscall.Signal) error
}

// canExecInPlace tells whether a non-detached exec may replace this
// process: its streams must be this process's own standard streams (as
// they are when a shim runs it; not in tests, which hand buffers), and
// the process must not lead its process group, since the exec's process
// leaves for a session of its own (setsid(2) refuses a group leader, as a
// command an interactive shell runs is). Otherwise the exec runs as a
// child and this process waits for it.
func (r *rt) canExecInPlace(sio ociruntime.IO) bool {
	for i, s := range []any{sio.Stdin, sio.Stdout, sio.Stderr} {
		f, ok := s.(*os.File)
		if !ok || f == nil || f.Fd() != uintptr(i) {
			return false
		}
	}
	getpgrp := r.getpgrp
	if getpgrp == nil {
		getpgrp = syscall.Getpgrp
	}
	return getpgrp() != os.Getpid()
}

// killPid is runj's `kill ID SIG --pid N`: its containerd shim signals an
// exec'd process this way. The container must exist and run. A runtime
// that checks the pid itself (the jail runtime: the pid must run in the
// container's jail) signals it; otherwise the pid, the process the shim
// started (the exec), is signalled directly.
func killPid(ctx context.Context, backend ociruntime.Runtime, inv *invocation) error {
	if inv.Pid < 0 || inv.All {
		return fmt.Errorf("kill %s: --pid takes one positive pid and no --all", inv.ID)
	}
	if k, ok := backend.(processKiller); ok {
		return k.KillProcess(ctx, inv.ID, inv.Pid, inv.Signal)
	}
	st, err := backend.State(ctx, inv.ID)
	if err != nil {
		return fmt.Errorf("kill %s: %w", inv.ID, err)
	}
	if string(st.Status) != string(ociruntime.StatusRunning) {
		return fmt.Errorf("kill %s: %w", inv.ID, ociruntime.ErrNotRunning)
	}
	if err := syscall.Kill(inv.Pid, inv.Signal); err != nil {
		return fmt.Errorf("kill %s --pid %d: %w", inv.ID, inv.Pid, err)
	}
	return nil
}
