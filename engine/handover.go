package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/internal/monitorio"
	"github.com/stockade/stockade/mount"
)

// A container's monitor hands over to the small idle monitor
// (cmd/stockade-monitor) once the container has run for MonitorIdleAfter
// without an attach client: it execs it, in the same process, passing the
// monitor lock (whose flock stays held: the open file description is
// inherited), the attach listener, the output pipes or the terminal
// master, the input pipe, the log's path and the restart loop's state
// (monitorio.Handover). When the container's process exits, the small
// monitor execs `stockade monitor` back with the exit code and the attach
// clients that came meanwhile (monitorio.Resume; ResumeMonitor), which
// records the exit, restarts or removes, as a monitor does after any exit.
//
// The subreaper status survives both execs. Linux: prctl(2) says
// PR_SET_CHILD_SUBREAPER "is preserved across execve(2)". FreeBSD: the
// status is P_TREE_REAPER in p_treeflag, set by procctl
// PROC_REAP_ACQUIRE (kern_procctl.c reap_acquire); execve (kern_exec.c
// do_execve) leaves p_treeflag and the reap list alone: only
// PROC_REAP_RELEASE and exit (kern_exit.c, reaper_abandon_children) clear
// it. The resumed monitor asks again anyway (EBUSY then says it already
// is one).
//
// Output is neither lost nor doubled: the copies stop at a clean point
// (a read deadline; what was read is logged and sent, what was not stays
// in the pipe), and a partial line at the handover is logged as an entry
// of its own.

// runOutput is one run's output copies.
type runOutput struct {
	pumps    []*monitorio.Pump
	specs    []pumpSpec
	terminal bool
}

// pumpSpec is what a pump copies, to start it again after a handover that
// did not happen.
type pumpSpec struct {
	stream string
	kind   byte
}

// startPumps starts copying each file to the log and the attach clients.
func startPumps(logw *LogWriter, h *monitorio.Hub, files []*os.File, specs []pumpSpec, terminal bool) *runOutput {
	out := &runOutput{specs: specs, terminal: terminal}
	for i, f := range files {
		out.pumps = append(out.pumps, monitorio.NewPump(f, logw, specs[i].stream, h, specs[i].kind))
	}
	return out
}

// drain waits for the copies to reach the end of their streams, for at
// most d: a process outside the container's pid namespace may still hold
// the pipes; the log keeps what came.
func (o *runOutput) drain(d time.Duration) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for _, p := range o.pumps {
		select {
		case <-p.Done():
		case <-deadline.C:
			return
		}
	}
}

// smallMonitor is the small monitor's path, or "" when monitors do not
// hand over.
func (e *Engine) smallMonitor() string {
	if e.MonitorIdleAfter <= 0 {
		return ""
	}
	path := e.SmallMonitor
	if path == "" {
		self, err := os.Executable()
		if err != nil {
			return ""
		}
		path = filepath.Join(filepath.Dir(self), "stockade-monitor")
	}
	if st, err := os.Stat(path); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		e.logger().Debug("no idle monitor to hand over to", "path", path)
		return ""
	}
	return path
}

// MonitorHook is a Hook that keeps something in the monitor's process
// while a container runs that it cannot pass on. For a container it
// names, the monitor does not hand over to the small idle monitor, whose
// execve would end it.
type MonitorHook interface {
	NeedsMonitor(c *Container) bool
}

// needsMonitor reports whether a hook keeps c's monitor the full one.
func (e *Engine) needsMonitor(c *Container) bool {
	for _, h := range e.Hooks {
		if mh, ok := h.(MonitorHook); ok && mh.NeedsMonitor(c) {
			return true
		}
	}
	return false
}

// Forwarder is a listening socket that a hook serves in the monitor's
// process, a published port's userland forwarder (package network/proxy),
// as the monitors pass it to each other: the small idle monitor forwards
// what it accepts to Target with a plain dial, the monitor being in the
// host's network namespace.
type Forwarder struct {
	// Hook is the name of the hook it belongs to; Owner is that hook's
	// name for it (the network's), handed back to it with it.
	Hook, Owner string
	// Proto is "tcp" or "udp"; Target the address it forwards to.
	Proto  string
	Target netip.AddrPort
	// Conn is the socket: the hook's own, paused, when handed off (the
	// engine passes a dup of it); an inherited file when adopted.
	Conn syscall.Conn
}

// ForwarderHook is a Hook that serves forwarders in the monitor's process
// and can pass them on, so that the monitor can hand over anyway.
type ForwarderHook interface {
	// HandOffForwarders pauses c's forwarders in this process and
	// returns them; resume serves them again when the handover does not
	// happen. ErrForwarding while one forwards a connection (the execve
	// would cut it): then nothing is paused.
	HandOffForwarders(c *Container) (fs []Forwarder, resume func(), err error)
	// AdoptForwarders serves fs, the forwarders of c passed back by the
	// small monitor, as the hook's own (closed at Stopped as before).
	AdoptForwarders(ctx context.Context, c *Container, fs []Forwarder) error
}

// ErrForwarding keeps a monitor from handing over while a forwarder
// passes a connection on; it tries again later.
var ErrForwarding = errors.New("a forwarded connection is open")

// handOffForwarders collects the forwarders of every ForwarderHook; on an
// error the ones paused already serve again.
func (e *Engine) handOffForwarders(c *Container) ([]Forwarder, func(), error) {
	var all []Forwarder
	var resumes []func()
	resume := func() {
		for _, r := range resumes {
			r()
		}
	}
	for _, h := range e.Hooks {
		fh, ok := h.(ForwarderHook)
		if !ok {
			continue
		}
		fs, r, err := fh.HandOffForwarders(c)
		if err != nil {
			resume()
			return nil, nil, fmt.Errorf("%s: %w", h.Name(), err)
		}
		for i := range fs {
			fs[i].Hook = h.Name()
		}
		all = append(all, fs...)
		if r != nil {
			resumes = append(resumes, r)
		}
	}
	return all, resume, nil
}

// adoptForwarders gives each hook its forwarders back; the files are
// closed afterwards (a hook keeps its own descriptors).
func (e *Engine) adoptForwarders(ctx context.Context, c *Container, fs []Forwarder) {
	for _, h := range e.Hooks {
		fh, ok := h.(ForwarderHook)
		if !ok {
			continue
		}
		var mine []Forwarder
		for _, f := range fs {
			if f.Hook == h.Name() {
				mine = append(mine, f)
			}
		}
		if len(mine) == 0 {
			continue
		}
		if err := fh.AdoptForwarders(ctx, c, mine); err != nil {
			e.logger().Warn("resumed monitor: published ports", "container", c.Name, "error", err)
		}
	}
	for _, f := range fs {
		if cl, ok := f.Conn.(interface{ Close() error }); ok {
			cl.Close()
		}
	}
}

// waitRun waits for the container's process pid and returns its exit
// code, reaping other orphans on the way, as waitExit does. With a small
// monitor configured it hands over to it once the container has run for
// MonitorIdleAfter without an attach client: then it does not return.
// healthPid is the health checker's pid (0 for none).
func (e *Engine) waitRun(ctx context.Context, c *Container, s *monitorRun, out *runOutput, pid, healthPid int) int {
	small := ""
	if s != nil && out != nil && !e.needsMonitor(c) {
		small = e.smallMonitor()
	}
	for _, p := range out.pumpsOrNil() {
		if !p.Stoppable() {
			small = ""
		}
	}
	if small == "" {
		return waitExit(pid)
	}
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, syscall.SIGCHLD)
	defer signal.Stop(sigchld)
	idle := time.NewTimer(e.MonitorIdleAfter)
	defer idle.Stop()
	for {
		if code, ended := reapUntil(pid, &healthPid); ended {
			return code
		}
		select {
		case <-sigchld:
		case <-idle.C:
			err := e.handOver(ctx, c, s, out, pid, healthPid, small)
			// Back here only when it did not hand over.
			if errors.Is(err, errClientAttached) || errors.Is(err, ErrForwarding) {
				idle.Reset(time.Second)
				continue
			}
			e.logger().Warn("hand over to the idle monitor", "container", c.Name, "error", err)
		}
	}
}

func (o *runOutput) pumpsOrNil() []*monitorio.Pump {
	if o == nil {
		return nil
	}
	return o.pumps
}

// reapUntil reaps the children that have ended, without waiting, and
// reports pid's exit code once pid is among them. A reaped health
// checker's pid is set to 0.
func reapUntil(pid int, healthPid *int) (code int, ended bool) {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return -1, true // ECHILD: nothing left to wait for
		}
		if got <= 0 {
			return 0, false
		}
		code, ok := monitorio.ExitCode(ws)
		switch {
		case !ok:
		case got == pid:
			return code, true
		case got == *healthPid:
			*healthPid = 0
		}
	}
}

// errClientAttached keeps a monitor from handing over while a client is
// attached.
var errClientAttached = errors.New("an attach client is connected")

// handOver execs the small monitor at path with what it needs. It returns
// only when it did not: then everything runs as before.
func (e *Engine) handOver(ctx context.Context, c *Container, s *monitorRun, out *runOutput, pid, healthPid int, path string) error {
	if s.hub.Clients() > 0 {
		return errClientAttached
	}
	if err := s.hub.Pause(s.ln); err != nil {
		return err
	}
	if s.hub.Clients() > 0 {
		s.hub.Go(s.ln)
		return errClientAttached
	}
	fwds, resumeFwds, err := e.handOffForwarders(c)
	if err != nil {
		s.hub.Go(s.ln)
		return err
	}
	serve := func() {
		resumeFwds()
		s.hub.Go(s.ln)
	}
	// From here the container's output stays in its pipes until the
	// small monitor reads it.
	files := make([]*os.File, len(out.pumps))
	for i, p := range out.pumps {
		files[i] = p.Stop()
	}
	var dups []int
	undo := func(err error) error {
		for _, fd := range dups {
			unix.Close(fd)
		}
		var live []*os.File
		var specs []pumpSpec
		for i, f := range files {
			if f != nil {
				live, specs = append(live, f), append(specs, out.specs[i])
			}
		}
		*out = *startPumps(s.logw, s.hub, live, specs, out.terminal)
		serve()
		return err
	}
	dup := func(f syscall.Conn) int {
		if f == nil {
			return -1
		}
		fd, err := monitorio.DupFD(f)
		if err != nil {
			return -1
		}
		dups = append(dups, fd)
		return fd
	}
	h := monitorio.Handover{
		ID: c.ID, Pid: pid, HealthPid: healthPid,
		Stdout: -1, Stderr: -1, Terminal: -1, Stdin: -1,
		Log:      monitorio.LogConfig{Path: e.LogPath(c.ID), MaxSize: s.logw.MaxSize(), MaxFiles: s.logw.MaxFiles()},
		Restarts: s.loop.restarts, RunStarted: s.loop.started,
	}
	if h.Lock = dup(s.lock); h.Lock < 0 {
		return undo(errors.New("monitor lock: cannot pass it on"))
	}
	sc, ok := s.ln.(syscall.Conn)
	if !ok {
		return undo(errors.New("attach listener: cannot pass it on"))
	}
	if h.Listener = dup(sc); h.Listener < 0 {
		return undo(errors.New("attach listener: cannot pass it on"))
	}
	for i, f := range files {
		if f == nil {
			continue // that stream ended
		}
		fd := dup(f)
		if fd < 0 {
			return undo(fmt.Errorf("%s: cannot pass it on", out.specs[i].stream))
		}
		switch {
		case out.terminal:
			h.Terminal = fd
		case out.specs[i].kind == FrameStdout:
			h.Stdout = fd
		default:
			h.Stderr = fd
		}
	}
	for _, f := range fwds {
		fd := dup(f.Conn)
		if fd < 0 {
			return undo(fmt.Errorf("forwarder to %s/%s: cannot pass it on", f.Target, f.Proto))
		}
		h.Forwarders = append(h.Forwarders, monitorio.Forwarder{FD: fd, Hook: f.Hook, Owner: f.Owner, Proto: f.Proto, Target: f.Target.String()})
	}
	if in := s.hub.Stdin(); in != nil && !out.terminal && c.Interactive {
		// -1 when a client's end of input closed it already.
		h.Stdin = dup(in)
	}
	if e.MonitorCommand == nil {
		return undo(errors.New("no monitor command to resume with"))
	}
	cmd := e.MonitorCommand(c.ID, false)
	if f, ok := cmd.Stderr.(*os.File); ok {
		f.Close()
	}
	h.Resume = append([]string{cmd.Path}, cmd.Args[1:]...)
	desc, err := h.Encode()
	if err != nil {
		return undo(err)
	}
	e.logger().Debug("hand over to the idle monitor", "container", c.Name, "path", path)
	env := monitorio.WithEnv(os.Environ(), monitorio.HandoverEnv, desc, monitorio.ResumeEnv)
	// The container's short id as the argument, for ps's sake.
	err = syscall.Exec(path, []string{path, shortID(c.ID)}, env)
	return undo(fmt.Errorf("exec %s: %w", path, err))
}

// ResumeMonitor is the body of `stockade monitor` exec'd back by the small
// monitor once the container's process exited: desc is its
// monitorio.Resume. It records the exit as a monitor does after any exit
// (the die event, the health checker stopped, runtime delete, exited or
// restarting), then goes on as RunMonitor does: the restart loop, --rm,
// the exit frame to the attach clients.
func (e *Engine) ResumeMonitor(ctx context.Context, desc string) error {
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGPIPE)
	r, err := monitorio.DecodeResume(desc)
	if err != nil {
		return err
	}
	lock, err := monitorio.InheritedFile(r.Lock, "monitor.lock")
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := becomeSubreaper(); err != nil && !errors.Is(err, unix.EBUSY) {
		e.logger().Warn("resumed monitor: subreaper", "error", err)
	}
	lnFile, err := monitorio.InheritedFile(r.Listener, "attach-listener")
	if err != nil {
		return err
	}
	ln, err := net.FileListener(lnFile)
	lnFile.Close()
	if err != nil {
		return fmt.Errorf("resumed monitor: attach listener: %w", err)
	}
	defer ln.Close()
	hub := monitorio.NewHub()
	for _, cl := range r.Clients {
		f, err := monitorio.InheritedFile(cl.FD, "attach-client")
		if err != nil {
			continue
		}
		conn, err := net.FileConn(f)
		f.Close()
		if err != nil {
			continue
		}
		hub.Adopt(conn, cl.Hello)
	}
	hub.Go(ln)
	c, err := e.find(ctx, r.ID)
	if err != nil {
		hub.Exit(ExitMessage{ExitCode: r.ExitCode})
		return err
	}
	defer os.Remove(e.socketPath(c.ID))
	var fwds []Forwarder
	for _, rf := range r.Forwarders {
		target, err := netip.ParseAddrPort(rf.Target) // Validate parsed it
		if err != nil {
			continue
		}
		f, err := monitorio.InheritedFile(rf.FD, "forwarder")
		if err != nil {
			continue
		}
		fwds = append(fwds, Forwarder{Hook: rf.Hook, Owner: rf.Owner, Proto: rf.Proto, Target: target, Conn: f})
	}
	e.adoptForwarders(ctx, c, fwds)
	logw, err := OpenLog(e.LogPath(c.ID), DefaultLogMaxSize, DefaultLogMaxFiles)
	if err != nil {
		hub.Exit(ExitMessage{ExitCode: r.ExitCode})
		return err
	}
	defer logw.Close()
	unmount := func() {
		if err := mount.UnmountAll(e.rootfsDir(c.ID)); err != nil {
			e.logger().Warn("unmount container root", "container", c.Name, "error", err)
		}
	}
	run := &monitorRun{
		logw: logw, hub: hub, report: func(string) {}, lock: lock, ln: ln,
		loop: &loopState{restarts: r.Restarts, started: r.RunStarted},
	}
	first := &resumedRun{e: e, c: c, run: run, code: r.ExitCode, healthPid: r.HealthPid}
	code, runErr := e.restartLoopFrom(ctx, c, first, realClock{}, false, run.loop)
	if !e.monitorEnd(ctx, c, run, unmount, code, runErr) {
		unmount()
	}
	return nil
}

// resumedRun is the resumed monitor's runner: its first run is the one
// the small monitor waited for, which has exited with code; the runs after
// it are next's.
type resumedRun struct {
	e         *Engine
	c         *Container
	run       *monitorRun
	code      int
	healthPid int
	done      bool
}

func (r *resumedRun) runOnce(ctx context.Context, waitAttach bool) (int, error) {
	if r.done {
		return r.e.runOnce(ctx, r.c, r.run, waitAttach)
	}
	r.done = true
	exited := func(code int) { // as started's, for the checker's pid
		if r.healthPid > 0 {
			syscall.Kill(-r.healthPid, syscall.SIGKILL)
			reapChild(r.healthPid)
		}
		r.e.Event(context.WithoutCancel(ctx), r.c, "die", map[string]string{"exitCode": fmt.Sprint(code)})
	}
	exited(r.code)
	r.e.recordExit(ctx, r.c, r.run, r.code)
	return r.code, nil
}

func (r *resumedRun) withRestartDecision(f func(int, *Container) bool) runner {
	r.run.willRestart = f
	return r
}
