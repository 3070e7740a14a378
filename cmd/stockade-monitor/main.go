// Command stockade-monitor is a container's monitor while the container
// runs idle: the full monitor (`stockade monitor ID`) execs it, in the
// same process, once the container has run for a while without an attach
// client (see engine/handover.go), so that an idle container costs a
// small Go program rather than the whole stockade binary.
//
// It holds what the full monitor held (the monitor lock, the attach
// socket, the container's stdio), waits for the container's process
// (reaping other orphans, as a subreaper does), writes the output to the
// log and to attach clients, and serves new attach clients. When the
// process has exited it drains the output (for up to 2 s), closes the log
// and execs the full monitor back with the exit code and the attach
// clients, which then does what a monitor does after an exit: records
// it, restarts, removes.
//
// It is started only by stockade, with its description in the
// STOCKADE_HANDOVER environment variable; its one argument, the
// container's short id, is there for ps and is not read.
package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/internal/monitorio"
	"github.com/stockade/stockade/network/proxy"
)

// drainWait bounds how long the output is read after the exit: a process
// outside the container's pid namespace may still hold the pipes (the
// full monitor waits as long).
const drainWait = 2 * time.Second

// pumpBuffer is the read size of the output copies: an idle container
// writes little, and a pipe holds 64 KiB meanwhile.
const pumpBuffer = 8 << 10

func main() {
	if len(os.Args) > 1 && os.Args[1] == sleepFlag {
		os.Exit(sleepThenExec(os.Args[2:], os.Stderr))
	}
	// One P and a small heap target: the monitor copies a few kilobytes
	// now and then and otherwise sleeps in wait4's signal.
	// One P, and a heap target of about 1 MiB (the runtime's 4 MiB
	// minimum times 25%): an idle monitor allocates nothing, so the
	// collector never runs (a collection itself costs private memory:
	// mark bits, work buffers); one that copies a chatty container's
	// output is held near the target.
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(25)
	h, err := monitorio.DecodeHandover(os.Getenv(monitorio.HandoverEnv))
	if err != nil {
		fmt.Fprintf(os.Stderr, "stockade-monitor: %v\n", err)
		os.Exit(2)
	}
	err = run(h)
	// run returns only when it could not exec the full monitor back.
	fmt.Fprintf(os.Stderr, "stockade-monitor %s: %v\n", h.ID, err)
	os.Exit(1)
}

// sleepFlag starts the sleeper mode: `stockade-monitor --sleep-then-exec
// DURATION -- COMMAND...`.
const sleepFlag = "--sleep-then-exec"

// sleepThenExec is the sleeper mode. A container's health checker (the
// engine, `healthcheck monitor`) execs this program between two checks
// of a long interval, in the same process, so that the wait costs this
// program's memory rather than the engine's (engine.HealthLoopOptions);
// once DURATION has passed it execs COMMAND, which checks and comes back
// here. It returns only on a bad command line or when the exec failed.
func sleepThenExec(args []string, stderr io.Writer) int {
	if len(args) < 3 || args[1] != "--" {
		fmt.Fprintf(stderr, "stockade-monitor: usage: %s DURATION -- COMMAND...\n", sleepFlag)
		return 2
	}
	d, err := time.ParseDuration(args[0])
	if err != nil || d < 0 {
		fmt.Fprintf(stderr, "stockade-monitor: %s %q: not a duration\n", sleepFlag, args[0])
		return 2
	}
	runtime.GOMAXPROCS(1)
	time.Sleep(d)
	err = syscall.Exec(args[2], args[2:], os.Environ())
	fmt.Fprintf(stderr, "stockade-monitor: exec %s: %v\n", args[2], err)
	return 1
}

// run supervises the container until its process exits, then execs the
// full monitor back.
func run(h monitorio.Handover) error {
	// SIGHUP, SIGINT and SIGPIPE stay ignored: the full monitor ignored
	// them, and an ignored signal stays ignored across execve (the Go
	// runtime leaves SIGHUP and SIGINT so; a write to a closed pipe or
	// socket returns EPIPE).

	lnFile, err := monitorio.InheritedFile(h.Listener, "attach-listener")
	if err != nil {
		return err
	}
	ln, err := net.FileListener(lnFile)
	lnFile.Close()
	if err != nil {
		return fmt.Errorf("attach listener: %w", err)
	}
	logw, err := monitorio.OpenLog(h.Log.Path, h.Log.MaxSize, h.Log.MaxFiles)
	if err != nil {
		return err
	}
	hub := monitorio.NewHub()
	var pumps []*monitorio.Pump
	pump := func(fd int, stream string, kind byte) error {
		if fd < 0 {
			return nil // the container closed that stream
		}
		f, err := monitorio.InheritedFile(fd, stream)
		if err != nil {
			return err
		}
		if kind == monitorio.FrameStdout && h.Terminal >= 0 {
			hub.SetTerminal(f)
		}
		pumps = append(pumps, monitorio.NewPumpSize(f, logw, stream, hub, kind, pumpBuffer))
		return nil
	}
	if h.Terminal >= 0 {
		err = pump(h.Terminal, "stdout", monitorio.FrameStdout)
	} else if err = pump(h.Stdout, "stdout", monitorio.FrameStdout); err == nil {
		err = pump(h.Stderr, "stderr", monitorio.FrameStderr)
	}
	if err != nil {
		return err
	}
	if h.Stdin >= 0 {
		f, err := monitorio.InheritedFile(h.Stdin, "stdin")
		if err != nil {
			return err
		}
		hub.SetStdin(f)
	}
	hub.Go(ln)
	fwds := serveForwarders(h.Forwarders)

	code := waitExit(h.Pid, &h.HealthPid)

	deadline := time.NewTimer(drainWait)
	for _, p := range pumps {
		select {
		case <-p.Done():
		case <-deadline.C:
		}
	}
	for _, p := range pumps {
		if f := p.Stop(); f != nil {
			f.Close()
		}
	}
	logw.Close()
	if err := hub.Pause(ln); err != nil {
		return fmt.Errorf("stop serving attach clients: %w", err)
	}
	r := monitorio.Resume{
		ID: h.ID, Lock: h.Lock, HealthPid: h.HealthPid,
		Restarts: h.Restarts, RunStarted: h.RunStarted, ExitCode: code,
	}
	if r.Listener, err = monitorio.DupFD(ln.(syscall.Conn)); err != nil {
		return fmt.Errorf("attach listener: %w", err)
	}
	for _, c := range hub.Detach() {
		sc, ok := c.Conn.(syscall.Conn)
		if !ok {
			continue
		}
		fd, err := monitorio.DupFD(sc)
		if err != nil {
			c.Conn.Close()
			continue
		}
		r.Clients = append(r.Clients, monitorio.Client{FD: fd, Hello: c.Hello})
	}
	r.Forwarders = passForwarders(fwds)
	if err := monitorio.Inherit(h.Lock); err != nil {
		return err
	}
	desc, err := r.Encode()
	if err != nil {
		return err
	}
	env := monitorio.WithEnv(os.Environ(), monitorio.ResumeEnv, desc, monitorio.HandoverEnv)
	return fmt.Errorf("exec %s: %w", h.Resume[0], syscall.Exec(h.Resume[0], h.Resume, env))
}

// forwarder is a published port's forwarder the small monitor serves.
type forwarder struct {
	desc monitorio.Forwarder
	px   *proxy.Proxy
}

// serveForwarders forwards what the published ports' sockets receive to
// the container, dialing from this process (it is in the host's network
// namespace, as the full monitor was). A forwarder that cannot be served
// is dropped: the full monitor starts it again at the next start.
func serveForwarders(descs []monitorio.Forwarder) []forwarder {
	var out []forwarder
	for _, d := range descs {
		f, err := monitorio.InheritedFile(d.FD, "forwarder")
		if err != nil {
			fmt.Fprintf(os.Stderr, "stockade-monitor: %v\n", err)
			continue
		}
		target, err := netip.ParseAddrPort(d.Target) // Validate parsed it
		if err == nil {
			var px *proxy.Proxy
			if px, err = proxy.FromFile(d.Proto, f, target); err == nil {
				out = append(out, forwarder{desc: d, px: px})
			}
		}
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "stockade-monitor: %v\n", err)
		}
	}
	return out
}

// passForwarders stops serving the forwarders (the container has exited)
// and returns descriptors of their sockets for the full monitor.
func passForwarders(fwds []forwarder) []monitorio.Forwarder {
	var out []monitorio.Forwarder
	for _, f := range fwds {
		if err := f.px.Pause(); err != nil {
			continue
		}
		fd, err := monitorio.DupFD(f.px)
		if err != nil {
			continue
		}
		d := f.desc
		d.FD = fd
		out = append(out, d)
	}
	return out
}

// waitExit waits for children until pid exits and returns its exit code
// (128+signal for a signal; -1 when it cannot be waited for), reaping
// other orphans on the way. A reaped health checker's pid is set to 0.
func waitExit(pid int, healthPid *int) int {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return -1 // ECHILD: no child left to wait for
		}
		code, ended := monitorio.ExitCode(ws)
		switch {
		case !ended:
		case got == pid:
			return code
		case got == *healthPid:
			*healthPid = 0
		}
	}
}
