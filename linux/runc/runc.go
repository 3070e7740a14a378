// Package runc is stockade's container runtime on Linux: an
// ociruntime.Runtime over the runc command line, or crun's.
//
// The package builds on every system so that the rest of stockade can name
// it; on systems other than Linux every operation fails with an error saying
// runc runs only on Linux.
package runc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/linux/runcstate"
	"github.com/stockade/stockade/ociruntime"
)

// Runtime is the Linux container runtime: an ociruntime.Runtime that drives the
// runc command line, or crun's, which takes the same commands and flags.
//
// Every command runs as
//
//	runc --root ROOT --log TMP --log-format json [--debug] COMMAND ...
//
// with a fresh log file per command. When the command fails, the last
// error the runtime logged there becomes the error's message; the
// runtime's other log lines are passed on to the slog.Logger (warnings as
// warnings, everything else at debug level).
//
// Container stdio follows runc's "pass-through" mode: the streams of
// ociruntime.IO become the standard streams of `runc create` (or `runc
// exec`), and the container's process inherits them. A stream that is an
// *os.File is handed over as it is, so the container holds that very file
// (a pipe of stockade's monitor, or stockade-runtime's own stdio, as
// containerd's shim expects from runc). Any other reader or writer is
// connected through a pipe and a goroutine that copies until the container
// closes its end, which can be long after Create returned; Delete waits for
// that copying to finish.
//
// The caller should be a child subreaper (PR_SET_CHILD_SUBREAPER), as
// stockade's monitor and containerd's shims are: when runc exits, the
// container's init process and every detached exec process become the
// caller's children, whose exit statuses it can then wait for. It must reap
// them all: a pid namespace's init cannot finish exiting while a process of
// its namespace is an unreaped zombie, and until then runc sees the
// container running (and `delete --force` gives up after 10 seconds).
//
// A Runtime is safe for concurrent use.
type Runtime struct {
	binary string
	name   string
	root   string
	log    *slog.Logger

	mu     sync.Mutex
	copies map[string]*sync.WaitGroup // output still being copied, by container id
}

var (
	_ ociruntime.Runtime = (*Runtime)(nil)
	_ ociruntime.Pauser  = (*Runtime)(nil)
)

// New returns the runtime that drives binary ("runc", "crun", or a path;
// a name without a slash is looked up in $PATH when a command runs, so a
// missing binary shows up as the error of the first operation) with
// runtime state under root, runc's --root. log receives the runtime's own
// log lines; nil discards them.
func New(binary, root string, log *slog.Logger) *Runtime {
	if binary == "" {
		binary = "runc"
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runtime{
		binary: binary,
		name:   filepath.Base(binary),
		root:   root,
		log:    log,
		copies: make(map[string]*sync.WaitGroup),
	}
}

// Binary returns the runtime binary as given to New.
func (r *Runtime) Binary() string { return r.binary }

// Root returns the runtime's state directory, its --root.
func (r *Runtime) Root() string { return r.root }

// Error is the error of a failed runc (or crun) operation. Its message
// is one line, "runc create ID: <what the runtime said>". Unwrap returns
// the ociruntime error it stands for (ErrNotFound, ErrExists,
// ErrNotRunning, ErrRunning) when the runtime's message says so, or the
// error that kept the runtime from running (exec.ErrNotFound for a missing
// binary, a context error, ...), so errors.Is works on it.
type Error struct {
	// Runtime is the base name of the binary, "runc" or "crun".
	Runtime string
	// Op is the runtime command: "create", "start", "state", "kill",
	// "delete", "exec", "list", "pause" or "resume".
	Op string
	// ID is the container, empty for list.
	ID string
	// Msg says what went wrong, normally in the runtime's own words.
	Msg string
	// Err is what the failure means, or nil.
	Err error
	// Reported is set when the runtime itself already wrote the failure
	// to the caller's stderr: create and exec hand the container's stderr
	// to runc, which prints its fatal errors there.
	Reported bool
}

// Message is what went wrong without the "runc create ID:" prefix.
func (e *Error) Message() string { return e.Msg }

// AlreadyReported reports whether the runtime already wrote the error to
// the caller's stderr, so a command line need not print it again.
func (e *Error) AlreadyReported() bool { return e.Reported }

// Error returns "runtime op id: msg".
func (e *Error) Error() string {
	s := e.Runtime + " " + e.Op
	if e.ID != "" {
		s += " " + e.ID
	}
	return s + ": " + e.Msg
}

// Unwrap returns the ociruntime error or the cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Create runs `runc create --bundle B [--pid-file P] [--console-socket S]
// [--preserve-fds N] ID` with the container's stdio wired to opts.IO
// (ExtraFiles become descriptors 3 on). When runc fails, it also prints
// its error on its standard error, which is the container's. If ctx ends
// while runc runs, runc is killed, which can leave a half-made container
// behind for a forced Delete.
func (r *Runtime) Create(ctx context.Context, id string, opts ociruntime.CreateOpts) error {
	return r.create(ctx, "create", id, opts)
}

// Run runs `runc run --detach` with Create's flags: the container is
// created and its process started by one runc process, which returns once
// the process runs (ociruntime.Runner).
func (r *Runtime) Run(ctx context.Context, id string, opts ociruntime.CreateOpts) error {
	return r.create(ctx, "run", id, opts)
}

// create runs `runc create` or `runc run --detach` (op "run").
func (r *Runtime) create(ctx context.Context, op, id string, opts ociruntime.CreateOpts) error {
	args := []string{op}
	if op == "run" {
		args = append(args, "--detach")
	}
	if opts.Bundle != "" {
		args = append(args, "--bundle", opts.Bundle)
	}
	if opts.PidFile != "" {
		args = append(args, "--pid-file", opts.PidFile)
	}
	args = appendIOFlags(args, opts.IO)
	args = append(args, id)
	c, err := r.command(ctx, op, id, args)
	if err != nil {
		return err
	}
	defer c.cleanup()
	att, err := c.attach(opts.IO)
	if err != nil {
		return c.fail(err.Error(), err)
	}
	c.cmd.ExtraFiles = opts.IO.ExtraFiles
	err = c.cmd.Run()
	att.ran()
	return c.result(err)
}

// Start runs `runc start ID` (or does its work itself: direct).
func (r *Runtime) Start(ctx context.Context, id string) error {
	if done, err := r.direct(ctx, "start", id, (*runcstate.Container).Start); done {
		return err
	}
	_, err := r.simple(ctx, "start", id, "start", id)
	return err
}

// State runs `runc state ID` and returns what it prints (or reads it
// itself: direct).
func (r *Runtime) State(ctx context.Context, id string) (specs.State, error) {
	var buf bytes.Buffer
	done, err := r.direct(ctx, "state", id, func(c *runcstate.Container) error { return c.State(&buf) })
	out := buf.Bytes()
	if !done {
		out, err = r.simple(ctx, "state", id, "state", id)
	}
	if err != nil {
		return specs.State{}, err
	}
	var st specs.State
	if err := json.Unmarshal(out, &st); err != nil {
		return specs.State{}, r.errorf("state", id, nil, "reading its output: %v", err)
	}
	return st, nil
}

// Pause runs `runc pause ID` (or freezes the cgroup itself: direct): the
// cgroup freezer stops every process of the container.
func (r *Runtime) Pause(ctx context.Context, id string) error {
	if done, err := r.direct(ctx, "pause", id, (*runcstate.Container).Pause); done {
		return err
	}
	_, err := r.simple(ctx, "pause", id, "pause", id)
	return err
}

// Resume runs `runc resume ID` (or thaws the cgroup itself: direct),
// thawing what Pause froze.
func (r *Runtime) Resume(ctx context.Context, id string) error {
	if done, err := r.direct(ctx, "resume", id, (*runcstate.Container).Resume); done {
		return err
	}
	_, err := r.simple(ctx, "resume", id, "resume", id)
	return err
}

// Kill runs `runc kill [--all] ID SIGNAL`, the signal given by number
// (without --all, it may signal the init itself: direct).
func (r *Runtime) Kill(ctx context.Context, id string, sig syscall.Signal, all bool) error {
	if !all {
		if done, err := r.direct(ctx, "kill", id, func(c *runcstate.Container) error { return c.Kill(sig) }); done {
			return err
		}
	}
	args := []string{"kill"}
	if all {
		args = append(args, "--all")
	}
	args = append(args, id, strconv.Itoa(int(sig)))
	_, err := r.simple(ctx, "kill", id, args...)
	return err
}

// Delete runs `runc delete [--force] ID` (a stopped container it may
// delete itself: direct), then waits (as long as ctx
// allows) for the copying of the container's output to writers that are
// not files to finish. As with runc, a forced delete of a container that
// does not exist succeeds.
func (r *Runtime) Delete(ctx context.Context, id string, force bool) error {
	args := []string{"delete"}
	if force {
		args = append(args, "--force")
	}
	args = append(args, id)
	// A stopped container is deleted alike with or without --force.
	if done, err := r.direct(ctx, "delete", id, (*runcstate.Container).Delete); !done {
		if _, err := r.simple(ctx, "delete", id, args...); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	r.mu.Lock()
	wg := r.copies[id]
	delete(r.copies, id)
	r.mu.Unlock()
	if wg == nil {
		return nil
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return r.errorf("delete", id, ctx.Err(), "waiting for the container's output: %v", ctx.Err())
	}
}

// Exec runs `runc exec --process FILE [--detach] [--tty] [--console-socket
// S] [--pid-file P] [--preserve-fds N] ID`, FILE holding opts.Process (with
// terminal set when opts.IO.Terminal is). Unless opts.Detach, it waits for
// the process and returns its exit code, which runc exec exits with (128+N
// for a process killed by signal N). When ctx ends first, runc exec is sent
// SIGTERM, which it forwards to the process, and is killed 10 seconds
// later if still there.
func (r *Runtime) Exec(ctx context.Context, id string, opts ociruntime.ExecOpts) (int, error) {
	if opts.Process == nil {
		return -1, r.errorf("exec", id, nil, "no process given")
	}
	proc := *opts.Process
	if opts.IO.Terminal {
		proc.Terminal = true
	}
	data, err := json.Marshal(&proc)
	if err != nil {
		return -1, r.errorf("exec", id, err, "encoding the process: %v", err)
	}
	pf, pfPath, err := unlinkedTemp("stockade-runc-process-*.json")
	if err != nil {
		return -1, r.errorf("exec", id, err, "process file: %v", err)
	}
	defer pf.Close()
	if _, err := pf.Write(data); err != nil {
		return -1, r.errorf("exec", id, err, "process file: %v", err)
	}

	args := []string{"exec", "--process", pfPath}
	if opts.Detach {
		args = append(args, "--detach")
	}
	if proc.Terminal {
		args = append(args, "--tty")
	}
	if opts.PidFile != "" {
		args = append(args, "--pid-file", opts.PidFile)
	}
	args = appendIOFlags(args, opts.IO)
	args = append(args, id)
	c, err := r.command(ctx, "exec", id, args)
	if err != nil {
		return -1, err
	}
	defer c.cleanup()
	c.cmd.ExtraFiles = opts.IO.ExtraFiles

	if opts.Detach {
		att, err := c.attach(opts.IO)
		if err != nil {
			return -1, c.fail(err.Error(), err)
		}
		err = c.cmd.Run()
		att.ran()
		return 0, c.result(err)
	}

	// In the foreground exec.Cmd copies non-file streams itself, and
	// stops waiting for them WaitDelay after runc exited.
	c.cmd.Stdin, c.cmd.Stdout, c.cmd.Stderr = opts.IO.Stdin, opts.IO.Stdout, opts.IO.Stderr
	c.sharedStderr = opts.IO.Stderr != nil
	c.cmd.Cancel = func() error { return c.cmd.Process.Signal(syscall.SIGTERM) }
	c.cmd.WaitDelay = 10 * time.Second
	err = c.cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.ExitCode() >= 0 && ctx.Err() == nil {
		// runc exits 255 (crun 1 or 125) when it fails itself: that
		// is told apart from the process's own exit code by the error
		// it logged.
		if msg, ok := c.lastError(); ok {
			return -1, c.fail(msg, nil)
		}
		return exitErr.ExitCode(), nil
	}
	if err != nil {
		return -1, c.result(err)
	}
	return 0, nil
}

// List runs `runc list --format json`.
func (r *Runtime) List(ctx context.Context) ([]specs.State, error) {
	out, err := r.simple(ctx, "list", "", "list", "--format", "json")
	if err != nil {
		return nil, err
	}
	var states []specs.State
	if len(bytes.TrimSpace(out)) > 0 {
		if err := json.Unmarshal(out, &states); err != nil {
			return nil, r.errorf("list", "", nil, "reading its output: %v", err)
		}
	}
	if states == nil {
		states = []specs.State{}
	}
	return states, nil
}

// appendIOFlags adds the flags that the streams of io call for.
func appendIOFlags(args []string, stdio ociruntime.IO) []string {
	if stdio.ConsoleSocket != "" {
		args = append(args, "--console-socket", stdio.ConsoleSocket)
	}
	if n := len(stdio.ExtraFiles); n > 0 {
		args = append(args, "--preserve-fds", strconv.Itoa(n))
	}
	return args
}

// simple runs a command whose stdio is not the container's: its standard
// output is returned, its standard error kept for the error message.
func (r *Runtime) simple(ctx context.Context, op, id string, args ...string) ([]byte, error) {
	c, err := r.command(ctx, op, id, args)
	if err != nil {
		return nil, err
	}
	defer c.cleanup()
	var stdout bytes.Buffer
	c.cmd.Stdout = &stdout
	c.cmd.Stderr = &c.stderr
	err = c.cmd.Run()
	return stdout.Bytes(), c.result(err)
}

// runcCall is one run of the runtime binary.
type runcCall struct {
	r       *Runtime
	ctx     context.Context
	op, id  string
	cmd     *exec.Cmd
	logFile *os.File     // the runtime's --log (unlinkedTemp)
	stderr  bytes.Buffer // for commands whose stderr is not the container's
	// sharedStderr is set when the runtime's stderr is the caller's (the
	// container's); the runtime prints its own fatal error there.
	sharedStderr bool
	logRead      bool
	errMsg       string // the last error logged, once read
}

// command prepares the runtime binary's command line, global flags first.
func (r *Runtime) command(ctx context.Context, op, id string, args []string) (*runcCall, error) {
	if err := runcSupported(); err != nil {
		return nil, r.errorf(op, id, err, "%v", err)
	}
	if id == "" && op != "list" {
		return nil, r.errorf(op, id, nil, "no container id given")
	}
	path, err := exec.LookPath(r.binary)
	if err != nil {
		cause := err
		var ee *exec.Error
		if errors.As(err, &ee) {
			cause = ee.Err
		}
		return nil, r.errorf(op, id, err, "runtime %s: %v", r.binary, cause)
	}
	lf, logPath, err := unlinkedTemp("stockade-runc-log-*.json")
	if err != nil {
		return nil, r.errorf(op, id, err, "log file: %v", err)
	}
	var global []string
	if r.root != "" {
		global = append(global, "--root", r.root)
	}
	global = append(global, "--log", logPath, "--log-format", "json")
	if r.log.Enabled(ctx, slog.LevelDebug) {
		global = append(global, "--debug")
	}
	c := &runcCall{r: r, ctx: ctx, op: op, id: id, logFile: lf}
	c.cmd = exec.CommandContext(ctx, path, append(global, args...)...)
	r.log.Debug("runtime command", "runtime", r.name, "args", c.cmd.Args[1:])
	return c, nil
}

// attach gives the runtime's process the container's stdio (Runtime.attach)
// as its own.
func (c *runcCall) attach(stdio ociruntime.IO) (*attachment, error) {
	att, err := c.r.attach(c.id, stdio)
	if err != nil {
		return nil, err
	}
	c.cmd.Stdin, c.cmd.Stdout, c.cmd.Stderr = att.stdin, att.stdout, att.stderr
	c.sharedStderr = att.stderr != nil
	return att, nil
}

// cleanup passes the runtime's log lines on and closes its log file.
func (c *runcCall) cleanup() {
	c.readLog()
	c.logFile.Close()
}

// unlinkedTemp creates a file that has no name: an anonymous file in
// memory (memfd_create), or, on a kernel without it, a temporary file
// whose name is removed at once. It lives as long as a descriptor of it
// is open, so nothing is left when this process dies, or execs (the
// monitor's hand-over) while the runtime runs, and the memory file costs
// the host's file system no inode to journal and free. The runtime opens
// it by the returned path, this process's descriptor under /proc.
func unlinkedTemp(pattern string) (*os.File, string, error) {
	f, err := memFile(strings.TrimSuffix(pattern, "*.json"))
	if err != nil {
		// A kernel without memfd_create (before 3.17): a file in the
		// temporary directory, its name removed at once.
		if f, err = os.CreateTemp("", pattern); err != nil {
			return nil, "", err
		}
		if err := os.Remove(f.Name()); err != nil {
			f.Close()
			return nil, "", err
		}
	}
	return f, fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd()), nil
}

// readLog reads the runtime's JSON log once: the last error is kept as the
// message of a failure, the other lines go to the logger.
func (c *runcCall) readLog() {
	if c.logRead {
		return
	}
	c.logRead = true
	sc := bufio.NewScanner(io.NewSectionReader(c.logFile, 0, 1<<62))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		level, msg, ok := parseRuncLogLine(line)
		if !ok {
			c.r.log.Debug("runtime log", "runtime", c.r.name, "op", c.op, "id", c.id, "line", string(line))
			continue
		}
		switch level {
		case "error", "fatal", "panic":
			c.errMsg = msg
		case "warning", "warn":
			c.r.log.Warn(msg, "runtime", c.r.name, "op", c.op, "id", c.id)
		default:
			c.r.log.Debug(msg, "runtime", c.r.name, "op", c.op, "id", c.id, "level", level)
		}
	}
}

// lastError returns the last error the runtime logged, if any.
func (c *runcCall) lastError() (string, bool) {
	c.readLog()
	return c.errMsg, c.errMsg != ""
}

// result turns the outcome of running the binary into the operation's
// error: nil, or a Error with the runtime's own message.
func (c *runcCall) result(runErr error) error {
	if runErr == nil {
		return nil
	}
	err := c.resultError(runErr)
	var exitErr *exec.ExitError
	var rerr *Error
	if c.sharedStderr && errors.As(runErr, &exitErr) && errors.As(err, &rerr) && c.ctx.Err() == nil {
		rerr.Reported = true
	}
	return err
}

func (c *runcCall) resultError(runErr error) error {
	if err := c.ctx.Err(); err != nil {
		return c.fail(fmt.Sprintf("%v (%v)", err, runErr), err)
	}
	if msg, ok := c.lastError(); ok {
		return c.fail(msg, nil)
	}
	if line := lastLine(c.stderr.String()); line != "" {
		return c.fail(line, nil)
	}
	var exitErr *exec.ExitError
	if errors.As(runErr, &exitErr) {
		return c.fail(runErr.Error(), nil)
	}
	return c.fail(runErr.Error(), runErr)
}

// fail makes the Error of this call. Without a cause, the message is
// classified into one of ociruntime's errors.
func (c *runcCall) fail(msg string, cause error) error {
	msg = oneLine(msg)
	// runc prefixes some messages with "runc create failed: ".
	msg = strings.TrimPrefix(msg, c.r.name+" "+c.op+" failed: ")
	if cause == nil {
		cause = classifyRuncError(c.op, msg)
	}
	if cause == nil && c.op != "create" && c.op != "run" && c.id != "" && c.r.root != "" && !validContainerDir(c.r.root, c.id) {
		// The runtime said something else, but has no state for id.
		cause = ociruntime.ErrNotFound
	}
	return &Error{Runtime: c.r.name, Op: c.op, ID: c.id, Msg: msg, Err: cause}
}

// errorf makes a Error for a failure of stockade's own.
func (r *Runtime) errorf(op, id string, cause error, format string, args ...any) error {
	return &Error{Runtime: r.name, Op: op, ID: id, Msg: oneLine(fmt.Sprintf(format, args...)), Err: cause}
}

// validContainerDir reports whether the runtime has a state directory for
// id under root. Both runc and crun keep one per container.
func validContainerDir(root, id string) bool {
	if id == "." || id == ".." || strings.ContainsRune(id, '/') {
		return false
	}
	fi, err := os.Stat(filepath.Join(root, id))
	return err == nil && fi.IsDir()
}

// parseRuncLogLine reads one line of runc's or crun's JSON log:
// {"level":"error","msg":"...","time":"..."}.
func parseRuncLogLine(line []byte) (level, msg string, ok bool) {
	var entry struct {
		Level string `json:"level"`
		Msg   string `json:"msg"`
	}
	if err := json.Unmarshal(line, &entry); err != nil || entry.Msg == "" {
		return "", "", false
	}
	return strings.ToLower(entry.Level), entry.Msg, true
}

// classifyRuncError maps what runc or crun says about a failed operation to
// the ociruntime error it means, or nil.
func classifyRuncError(op, msg string) error {
	m := strings.ToLower(msg)
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(m, s) {
				return true
			}
		}
		return false
	}
	switch {
	case has("does not exist", "container not found", "not found container"):
		return ociruntime.ErrNotFound
	case (op == "create" || op == "run") && has("already exists", "exists already"):
		return ociruntime.ErrExists
	case op == "delete" && has("not stopped", "not in 'stopped' state", "is running"):
		return ociruntime.ErrRunning
	case op == "start" && has("already running"):
		return ociruntime.ErrRunning
	case (op == "kill" || op == "exec" || op == "start") &&
		has("not running", "stopped container", "has stopped", "no such process", "is stopped"):
		return ociruntime.ErrNotRunning
	}
	return nil
}

// oneLine joins a message's lines.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// attachment is the stdio of a runtime command that hands it to the
// container.
type attachment struct {
	stdin, stdout, stderr *os.File
	// childEnds are the pipe ends the runtime inherits, closed in this
	// process once it ran.
	childEnds []*os.File
}

// attach prepares the streams of stdio for a command whose stdio the
// container inherits: files are passed as they are, other readers and
// writers through pipes whose copying starts now and outlives the command.
// Output copying is tracked under id so that Delete can wait for it.
func (r *Runtime) attach(id string, stdio ociruntime.IO) (*attachment, error) {
	a := &attachment{}
	if stdio.Terminal && stdio.ConsoleSocket != "" {
		// The process gets a pseudo-terminal through the socket;
		// the runtime's own stdio is /dev/null.
		return a, nil
	}
	var (
		copies     []func()
		parentEnds []*os.File
		wg         sync.WaitGroup
		outs       int
	)
	fail := func(err error) (*attachment, error) {
		for _, f := range append(a.childEnds, parentEnds...) {
			f.Close()
		}
		return nil, fmt.Errorf("stdio pipe: %w", err)
	}
	if f, ok := stdio.Stdin.(*os.File); ok {
		a.stdin = f
	} else if src := stdio.Stdin; src != nil {
		pr, pw, err := os.Pipe()
		if err != nil {
			return fail(err)
		}
		a.stdin = pr
		a.childEnds = append(a.childEnds, pr)
		parentEnds = append(parentEnds, pw)
		// Not waited for: the source may never end. Once the
		// container closed the pipe, the next write fails and ends it.
		copies = append(copies, func() {
			copyStream(pw, src)
			pw.Close()
		})
	}
	out := func(w io.Writer) (*os.File, error) {
		if w == nil {
			return nil, nil
		}
		if f, ok := w.(*os.File); ok {
			return f, nil
		}
		pr, pw, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		a.childEnds = append(a.childEnds, pw)
		parentEnds = append(parentEnds, pr)
		outs++
		copies = append(copies, func() {
			defer wg.Done()
			copyStream(w, pr)
			pr.Close()
		})
		return pw, nil
	}
	var err error
	if a.stdout, err = out(stdio.Stdout); err != nil {
		return fail(err)
	}
	if a.stderr, err = out(stdio.Stderr); err != nil {
		return fail(err)
	}
	if outs > 0 {
		wg.Add(outs)
		r.mu.Lock()
		all := r.copies[id]
		if all == nil {
			all = &sync.WaitGroup{}
			r.copies[id] = all
		}
		all.Add(1)
		r.mu.Unlock()
		go func() { wg.Wait(); all.Done() }()
	}
	for _, c := range copies {
		go c()
	}
	return a, nil
}

// ran closes this process's copies of the pipe ends the runtime inherited,
// once it ended, whatever the outcome: the pipes then belong to the
// container, or to nobody, and then the copying ends at once.
func (a *attachment) ran() {
	for _, f := range a.childEnds {
		f.Close()
	}
}

// copyStream copies src to dst until either ends.
func copyStream(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32*1024)
	_, _ = io.CopyBuffer(dst, src, buf)
}
