package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/internal/monitorio"
	"github.com/stockade/stockade/internal/phase"
	"github.com/stockade/stockade/ociruntime"
)

// RunMonitor is the body of a container's monitor process (`stockade
// monitor ID`, started by Start). It holds the container's stdio, writes
// its log, records its exit status, applies its restart policy, and serves
// attach clients on a unix socket. syncFile receives one line: "ok" once
// the container runs (or, with waitAttach, once it is created), or the
// error that stopped it. start is what the command line that spawned it
// handed it (see MonitorStart); its WaitAttach holds the process for the
// first attach client.
func (e *Engine) RunMonitor(ctx context.Context, id string, start MonitorStart, syncFile *os.File) error {
	waitAttach := start.WaitAttach
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGPIPE)
	// --debug-timing of the CLI that started it: a pending monitor's
	// caller has begun the timing (PendingReader).
	timer := phase.From(ctx)
	if timer == nil {
		timer = phase.FromEnv("monitor")
		timer.Mark("exec and init")
		ctx = phase.With(ctx, timer)
	}
	defer timer.Flush()
	var reportOnce sync.Once
	report := func(msg string) {
		reportOnce.Do(func() {
			timer.Flush()
			if syncFile != nil {
				fmt.Fprintln(syncFile, msg)
				syncFile.Close()
			}
		})
	}
	defer report("monitor ended before the container started")

	c := start.Record
	if c == nil || c.ID != id {
		var err error
		if c, err = e.find(ctx, id); err != nil {
			report(err.Error())
			start.Prepared.Close()
			return err
		}
		timer.Mark("metadata: find")
	}
	prep := start.Prepared
	if prep == nil {
		prep = e.prepareMonitor(ctx, c.ID, timer)
	}
	defer prep.Close()
	if prep.err != nil {
		err := fmt.Errorf("monitor %s: %w", c.Name, prep.err)
		report(err.Error())
		return err
	}
	lock, hub, ln, logw := prep.lock, prep.hub, prep.ln, prep.logw
	if start.Client != nil {
		// Its hello came with the id (PendingMonitor.take).
		hub.AdoptFirst(start.Client, time.Second)
	}
	// A run's create left the root mounted (KeepRootMounted).
	_, unmount, err := e.mountRootfsAdopt(ctx, c, c.runMode(), true, start.RootMounts)
	if err != nil {
		report(err.Error())
		return err
	}
	timer.Mark("rootfs mount")
	unmounted := false
	defer func() {
		if !unmounted {
			unmount()
		}
	}()

	run := &monitorRun{logw: logw, hub: hub, report: report, lock: lock, ln: ln, loop: &loopState{}, commandChecked: start.CommandChecked}
	exitCode, runErr := e.restartLoopFrom(ctx, c, monitorRunner{e: e, c: c, run: run}, realClock{}, waitAttach, run.loop)
	unmounted = e.monitorEnd(ctx, c, run, unmount, exitCode, runErr)
	return nil
}

// MonitorPrep is what a monitor makes for its container before it runs
// it: the monitor lock, the subreaper flag, the attach socket (served
// from then on) and the log. A pending monitor makes it as soon as it has
// the container's id (PrepareMonitor), while the command line still
// creates the container; RunMonitor makes it otherwise.
type MonitorPrep struct {
	lock *os.File
	hub  *monitorio.Hub
	ln   net.Listener
	sock string
	logw *LogWriter
	// err is the first failure, which RunMonitor reports with the
	// container's name; nothing is held then.
	err error
}

// PrepareMonitor makes a pending monitor's MonitorPrep for the container
// id, whose name is reserved but whose directories may not exist yet:
// it makes them. A failure is kept in the MonitorPrep for RunMonitor to
// report. Close undoes it when no container comes.
func (e *Engine) PrepareMonitor(ctx context.Context, id string) *MonitorPrep {
	for _, dir := range []string{e.runDir(id), e.containerDir(id)} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return &MonitorPrep{err: err}
		}
	}
	return e.prepareMonitor(ctx, id, phase.From(ctx))
}

// prepareMonitor takes the monitor lock of id, makes the process a
// subreaper, listens on the attach socket and opens the log.
func (e *Engine) prepareMonitor(ctx context.Context, id string, timer *phase.Timer) *MonitorPrep {
	p := &MonitorPrep{}
	var err error
	if p.lock, err = acquireMonitorLock(ctx, e.lockPath(id)); err != nil {
		return &MonitorPrep{err: err}
	}
	timer.Mark("lock")
	if err := becomeSubreaper(); err != nil {
		p.Close()
		return &MonitorPrep{err: fmt.Errorf("subreaper: %w", err)}
	}
	p.hub = monitorio.NewHub()
	sock := e.socketPath(id)
	os.Remove(sock)
	if p.ln, err = net.Listen("unix", sock); err != nil {
		p.Close()
		return &MonitorPrep{err: err}
	}
	p.sock = sock
	p.hub.Go(p.ln)
	if p.logw, err = OpenLog(e.LogPath(id), DefaultLogMaxSize, DefaultLogMaxFiles); err != nil {
		p.Close()
		return &MonitorPrep{err: err}
	}
	timer.Mark("subreaper, socket, log")
	return p
}

// Close releases what p holds, at the monitor's end or when no container
// comes: the socket is removed, the log closed, the lock released. The
// files stay for the removal of the container (its directories) to
// delete. A nil MonitorPrep is a no-op.
func (p *MonitorPrep) Close() {
	if p == nil {
		return
	}
	if p.ln != nil {
		p.ln.Close()
		os.Remove(p.sock)
	}
	if p.logw != nil {
		p.logw.Close()
	}
	if p.lock != nil {
		p.lock.Close()
	}
}

// monitorEnd is the end of a monitor, once its restart loop is over: with
// --rm the container is removed (then it reports true: the root is
// unmounted), and the attach clients get the exit.
func (e *Engine) monitorEnd(ctx context.Context, c *Container, run *monitorRun, unmount func(), exitCode int, runErr error) (unmounted bool) {
	msg := ExitMessage{ExitCode: exitCode}
	if runErr != nil {
		msg.Error = runErr.Error()
		var se *StartError
		if errors.As(runErr, &se) {
			msg.ExitCode = se.ExitCode()
			msg.Error, msg.Container = se.Msg, se.Container
		}
	}
	if c.AutoRemove {
		// The removal unmounts the root and deletes its directories, the
		// marks of a volatile mount with them.
		unmounted = true
		finish, err := e.destroyDeferred(context.WithoutCancel(ctx), c, run.runtimeDeleted)
		if err != nil {
			e.logger().Error("remove container", "container", c.Name, "error", err)
			unmount() // clears the marks of a root that stays
			run.recordPendingExit(ctx, e, c)
		}
		// The container is gone, record and name: its files are deleted
		// once the clients have the exit.
		defer finish()
		phase.Mark(ctx, "remove (--rm)")
	}
	phase.From(ctx).Flush() // before the exit reaches the CLI, which then prints
	run.hub.Exit(msg)
	return unmounted
}

// monitorRun is what a monitor's runs of its container share.
type monitorRun struct {
	logw *LogWriter
	hub  *monitorio.Hub
	// report sends the start's outcome to the process that started the
	// monitor (once; later calls do nothing).
	report func(string)
	// willRestart, when not nil, says whether the restart loop will run
	// the container again after an exit; the exit is then recorded as
	// restarting rather than exited, in one transaction.
	willRestart func(int, *Container) bool
	// runtimeDeleted tells that the runtime deleted the container after
	// its last run, so removing it (--rm) needs no runtime call.
	runtimeDeleted bool
	// waitPid is the pid of the runtime's process of a foreground run
	// (runForeground), which the monitor waits for; 0 otherwise.
	waitPid int
	// lock, ln and loop are what a handover to the small monitor passes
	// on besides the log and the hub (handover.go): the monitor lock, the
	// attach listener and the restart loop's state.
	lock *os.File
	ln   net.Listener
	loop *loopState
	// exitPending is the last exit of a --rm container, which recordExit
	// left to the removal (nil when it recorded the exit).
	exitPending *pendingExit
	// commandChecked: the create checked the command against this root
	// (MonitorStart), so the first run does not.
	commandChecked bool
}

// pendingExit is an exit not recorded yet.
type pendingExit struct {
	code int
	at   time.Time
}

// recordPendingExit records the exit recordExit left to a removal that
// did not happen (it failed, or the container is kept after all).
func (run *monitorRun) recordPendingExit(ctx context.Context, e *Engine, c *Container) {
	p := run.exitPending
	if p == nil {
		return
	}
	run.exitPending = nil
	e.update(context.WithoutCancel(ctx), c.ID, func(rec *Container) error {
		s := &rec.State
		s.Status = StatusExited
		s.ExitCode = p.code
		s.Pid = 0
		s.FinishedAt = p.at
		return nil
	})
}

// runOnce creates, starts and waits for the container's process once.
func (e *Engine) runOnce(ctx context.Context, c *Container, run *monitorRun, waitAttach bool) (int, error) {
	report, hub := run.report, run.hub
	run.runtimeDeleted = false
	run.waitPid = 0
	if err := e.hooksPrestart(ctx, c); err != nil {
		serr := &StartError{Container: c.Name, Msg: runtimeMessage(err)}
		report(serr.syncLine())
		return 0, serr
	}
	phase.Mark(ctx, "hooks prestart")
	if run.commandChecked {
		run.commandChecked = false // the create did, for the first run
	} else if spec, err := readCommandSpec(e.containerDir(c.ID)); err == nil {
		if serr := checkCommand(c.Name, e.rootfsDir(c.ID), spec); serr != nil {
			report(serr.syncLine())
			return 0, serr
		}
		phase.Mark(ctx, "check command")
	}
	if c.Terminal {
		return e.runOnceTTY(ctx, c, run, waitAttach)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return 0, err
	}
	var stdin *os.File
	if c.Interactive {
		r, w, err := os.Pipe()
		if err != nil {
			return 0, err
		}
		stdin = r
		hub.SetStdin(w)
	} else if stdin, err = os.Open(os.DevNull); err != nil {
		return 0, err
	}
	phase.Mark(ctx, "pipes")
	// Without a hook between create and start, one runtime call does both.
	_, oneCall := e.Runtime.(ociruntime.Runner)
	oneCall = oneCall && !e.needsCreated(c)
	if oneCall && waitAttach {
		// The first client attaches before the process runs, as it does
		// between create and start otherwise; an error of the run then
		// reaches it in the exit frame.
		report("ok")
		hub.WaitStart(ctx)
		phase.Mark(ctx, "ok, wait for the attach")
	}
	mode := createOnly
	if oneCall {
		mode = runDetached
		if waitAttach {
			// A client waits for the exit: the runtime's own process
			// may stay with the container and delete it at its end.
			mode = runForeground
		}
	}
	run.waitPid, err = e.createRuntime(ctx, c.ID, ociruntime.CreateOpts{
		Bundle: e.containerDir(c.ID),
		IO:     ociruntime.IO{Stdin: stdin, Stdout: outW, Stderr: errW},
	}, mode)
	if run.waitPid > 0 {
		phase.Mark(ctx, "runtime run (foreground)")
	} else if oneCall {
		phase.Mark(ctx, "runtime run")
	} else {
		phase.Mark(ctx, "runtime create")
	}
	stdin.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		serr := &StartError{Container: c.Name, Msg: runtimeMessage(err)}
		report(serr.syncLine())
		return 0, serr
	}
	out := startPumps(run.logw, hub, []*os.File{outR, errR}, []pumpSpec{{"stdout", FrameStdout}, {"stderr", FrameStderr}}, false)
	return e.startAndWait(ctx, c, run, waitAttach && !oneCall, oneCall, out)
}

// startMode is how the monitor has the runtime start a container.
type startMode int

const (
	// createOnly: Create, and Start after the Created hooks.
	createOnly startMode = iota
	// runDetached: create and start in one call (ociruntime.Runner).
	runDetached
	// runForeground: as runDetached, and the runtime's process stays
	// the container's parent until it ends, deleting it then
	// (ociruntime.ForegroundRunner); runDetached where the runtime
	// cannot.
	runForeground
)

// createRuntime creates the container in the runtime, and with
// runDetached or runForeground also starts its process in the same call.
// With runForeground it returns the pid of the runtime's process, which
// the monitor then waits for instead of the container's (0 otherwise).
// When the runtime still has a container of that id (the leftovers of a
// monitor that crashed), that one is deleted and the create tried once
// more: looking for leftovers first would cost every start one more
// runtime call. The runtime writes the process's pid to the run
// directory's pid file (see createdPid).
func (e *Engine) createRuntime(ctx context.Context, id string, opts ociruntime.CreateOpts, mode startMode) (runtimePid int, err error) {
	opts.PidFile = e.pidFilePath(id)
	os.Remove(opts.PidFile)
	retried := func(create func() (int, error)) (int, error) {
		pid, err := create()
		if errors.Is(err, ociruntime.ErrExists) {
			e.Runtime.Delete(ctx, id, true)
			pid, err = create()
		}
		return pid, err
	}
	if f, ok := e.Runtime.(ociruntime.ForegroundRunner); ok && mode == runForeground {
		pid, err := retried(func() (int, error) { return f.RunForeground(ctx, id, opts) })
		if !errors.Is(err, errors.ErrUnsupported) {
			return pid, err
		}
	}
	create := e.Runtime.Create
	if r, ok := e.Runtime.(ociruntime.Runner); ok && mode != createOnly {
		create = r.Run
	}
	return retried(func() (int, error) { return 0, create(ctx, id, opts) })
}

func (e *Engine) pidFilePath(id string) string { return filepath.Join(e.runDir(id), "pid") }

// createdPid returns the pid of the created container's process: from the
// pid file the runtime wrote at create, or, when there is none, from the
// runtime's state (one more runtime call).
func (e *Engine) createdPid(ctx context.Context, id string) (int, error) {
	if data, err := os.ReadFile(e.pidFilePath(id)); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 {
			return pid, nil
		}
	}
	st, err := e.Runtime.State(ctx, id)
	return st.Pid, err
}

// startAndWait starts a created container (unless started, when the
// runtime started it with the create), records it running, waits for its
// exit and records that.
func (e *Engine) startAndWait(ctx context.Context, c *Container, run *monitorRun, waitAttach, started bool, out *runOutput) (int, error) {
	report, hub := run.report, run.hub
	// The pid is read from the file the runtime wrote at create: a
	// short-lived program may be gone by the time Start returns.
	pid, err := e.createdPid(ctx, c.ID)
	phase.Mark(ctx, "pid")
	if err != nil || pid <= 0 {
		e.Runtime.Delete(ctx, c.ID, true)
		serr := &StartError{Container: c.Name, Msg: fmt.Sprintf("no process after create: %v", err)}
		report(serr.syncLine())
		return 0, serr
	}
	if !started {
		// A created process that must not start is killed and deleted.
		abort := func(err error) (int, error) {
			e.Runtime.Kill(ctx, c.ID, syscall.SIGKILL, true)
			waitExit(pid)
			e.Runtime.Delete(ctx, c.ID, true)
			serr := &StartError{Container: c.Name, Msg: runtimeMessage(err)}
			report(serr.syncLine())
			return 0, serr
		}
		if err := e.hooksCreated(ctx, c, pid); err != nil {
			return abort(err)
		}
		phase.Mark(ctx, "hooks created")
		if waitAttach {
			report("ok")
			hub.WaitStart(ctx)
			phase.Mark(ctx, "ok, wait for the attach")
		}
		if err := e.Runtime.Start(ctx, c.ID); err != nil {
			return abort(err)
		}
		phase.Mark(ctx, "runtime start")
	}
	now := time.Now().UTC()
	e.setState(ctx, c.ID, func(s *State) {
		s.Status = StatusRunning
		s.Pid = pid
		s.MonitorPid = os.Getpid()
		s.StartedAt = now
		s.Error = ""
	})
	phase.Mark(ctx, "metadata: running")
	e.hooksStarted(ctx, c, pid)
	exited, healthPid := e.started(ctx, c) // events, health checker (health.go)
	phase.Mark(ctx, "hooks started, event")
	report("ok")
	// Here the monitor may hand over to the small one, and the exit is
	// then recorded by the resumed monitor (handover.go).
	waitPid := pid
	if run.waitPid > 0 {
		waitPid = run.waitPid // the runtime's process: its exit is the container's
	}
	code := e.waitRun(ctx, c, run, out, waitPid, healthPid)
	phase.Mark(ctx, "container runs (wait)")
	exited(code)
	out.drain(2 * time.Second)
	phase.Mark(ctx, "event, log drain")
	e.recordExit(ctx, c, run, code)
	return code, nil
}

// recordExit deletes the ended run from the runtime and records the exit
// (as restarting when the loop will restart: run.willRestart).
func (e *Engine) recordExit(ctx context.Context, c *Container, run *monitorRun, code int) {
	if f, ok := e.Runtime.(ociruntime.ForegroundRunner); ok && run.waitPid > 0 && !f.Holds(c.ID) {
		// The runtime's foreground process deleted it.
		run.runtimeDeleted = true
		phase.Mark(ctx, "runtime deleted itself")
	} else {
		if err := e.Runtime.Delete(context.WithoutCancel(ctx), c.ID, true); err == nil || errors.Is(err, ociruntime.ErrNotFound) {
			run.runtimeDeleted = true
		}
		phase.Mark(ctx, "runtime delete")
	}
	run.exitPending = nil
	if c.AutoRemove {
		// A container removed at its exit (--rm) needs no exit record
		// first, and no write transaction with its two syncs: its record
		// goes with it (monitorEnd), unless the loop restarts it, or the
		// removal fails, which then records the exit. Until then the
		// record says running; its monitor still holds the lock.
		if !e.mayRestart(ctx, c, run, code) {
			run.exitPending = &pendingExit{code: code, at: time.Now().UTC()}
			return
		}
	}
	e.update(context.WithoutCancel(ctx), c.ID, func(rec *Container) error {
		s := &rec.State
		s.Status = StatusExited
		s.ExitCode = code
		s.Pid = 0
		s.FinishedAt = time.Now().UTC()
		if run.willRestart != nil && run.willRestart(code, rec) {
			s.Status = StatusRestarting
		}
		return nil
	})
	phase.Mark(ctx, "metadata: exited")
}

// mayRestart reports whether the restart loop may restart c after an
// exit with code: read from the record unless c ends at its exit anyway
// (endsAtExit). A record that cannot be read says it may (the exit is
// then recorded as any other).
func (e *Engine) mayRestart(ctx context.Context, c *Container, run *monitorRun, code int) bool {
	if c.endsAtExit() {
		return false
	}
	rec, err := e.find(ctx, c.ID)
	phase.Mark(ctx, "metadata: read (--rm)")
	return err != nil || run.willRestart != nil && run.willRestart(code, rec)
}

// waitExit waits for pid, a child of this subreaper, and returns its exit
// code, 128+signal when a signal ended it. Other reparented orphans are
// reaped along the way.
func waitExit(pid int) int {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return -1
		}
		if got != pid {
			continue
		}
		switch {
		case ws.Exited():
			return ws.ExitStatus()
		case ws.Signaled():
			return 128 + int(ws.Signal())
		}
	}
}

// runOnceTTY is runOnce for a container with a pseudo-terminal: the
// runtime sends the terminal's master over a console socket; its output is
// the container's stdout, attach clients' input goes into it, and their
// resize frames set its window size.
func (e *Engine) runOnceTTY(ctx context.Context, c *Container, run *monitorRun, waitAttach bool) (int, error) {
	report, hub := run.report, run.hub
	cs, err := NewConsoleSocket(filepath.Join(e.runDir(c.ID), "console.sock"))
	if err != nil {
		return 0, err
	}
	defer cs.Close()
	type received struct {
		f   *os.File
		err error
	}
	masterc := make(chan received, 1)
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	go func() {
		f, err := cs.Receive(rctx)
		masterc <- received{f, err}
	}()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	_, err = e.createRuntime(ctx, c.ID, ociruntime.CreateOpts{
		Bundle: e.containerDir(c.ID),
		IO:     ociruntime.IO{Stdin: devnull, Stdout: devnull, Stderr: devnull, Terminal: true, ConsoleSocket: cs.Path()},
	}, createOnly)
	devnull.Close()
	if err != nil {
		cs.Close()
		serr := &StartError{Container: c.Name, Msg: runtimeMessage(err)}
		report(serr.syncLine())
		return 0, serr
	}
	got := <-masterc
	if got.err != nil {
		e.Runtime.Delete(ctx, c.ID, true)
		serr := &StartError{Container: c.Name, Msg: got.err.Error()}
		report(serr.syncLine())
		return 0, serr
	}
	master := got.f
	hub.SetTerminal(master)
	out := startPumps(run.logw, hub, []*os.File{master}, []pumpSpec{{"stdout", FrameStdout}}, true)
	return e.startAndWait(ctx, c, run, waitAttach, false, out)
}
