package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/bundle"
	"github.com/stockade/stockade/ociruntime"
)

// ExecOptions describe a process to run in a running container.
type ExecOptions struct {
	// Args is the command and its arguments.
	Args []string
	// Env adds or overrides K=V variables of the container's environment.
	Env []string
	// User and Workdir override the container's; empty keeps them.
	User, Workdir string
	// Detach returns once the process started.
	Detach bool
	// Stdin, Stdout and Stderr are the process's streams.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// TTY runs the process on a pseudo-terminal relayed to Stdin and
	// Stdout; Resize carries its window sizes (rows, cols).
	TTY    bool
	Resize <-chan [2]uint16
	// PidFile, when set, receives the process's host pid (health checks
	// kill a check that outlives its timeout by it).
	PidFile string
}

// Exec runs a process in a running container and returns its exit code.
func (e *Engine) Exec(ctx context.Context, ref string, opts ExecOptions) (int, error) {
	c, err := e.Get(ctx, ref)
	if err != nil {
		return 0, err
	}
	if c.State.Status != StatusRunning {
		return 0, fmt.Errorf("exec in %s: %w", c.Name, ociruntime.ErrNotRunning)
	}
	if len(opts.Args) == 0 {
		return 0, fmt.Errorf("exec in %s: no command", c.Name)
	}
	spec, err := readCommandSpec(e.containerDir(c.ID))
	if err == nil && spec.Process == nil {
		err = errors.New("config.json has no process")
	}
	if err != nil {
		return 0, fmt.Errorf("exec in %s: %w", c.Name, err)
	}
	proc := *spec.Process
	proc.Terminal = false
	proc.Args = opts.Args
	proc.Env = mergeEnv(execBaseEnv(proc.Env, opts.TTY), opts.Env)
	if opts.Workdir != "" {
		if !filepath.IsAbs(opts.Workdir) {
			return 0, fmt.Errorf("exec -w %q: must be absolute", opts.Workdir)
		}
		proc.Cwd = opts.Workdir
	}
	if opts.User != "" {
		u, err := bundle.ResolveUser(e.rootfsDir(c.ID), opts.User)
		if err != nil {
			return 0, fmt.Errorf("exec in %s: %w", c.Name, err)
		}
		proc.User = u
	}
	execSpec := *spec
	execSpec.Process = &proc
	if serr := checkCommand(c.Name, e.rootfsDir(c.ID), &execSpec); serr != nil {
		serr.Op = "exec"
		return serr.ExitCode(), serr
	}
	if opts.TTY {
		return e.execTTY(ctx, c, &proc, opts)
	}
	code, err := e.Runtime.Exec(ctx, c.ID, ociruntime.ExecOpts{
		Process: &proc,
		Detach:  opts.Detach,
		PidFile: opts.PidFile,
		IO:      ociruntime.IO{Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr},
	})
	if err != nil {
		return code, &StartError{Op: "exec", Container: c.Name, Msg: runtimeMessage(err)}
	}
	return code, nil
}

// mergeEnv overrides base's variables with those of add, by key.
// execBaseEnv is the container's environment for an exec: with a
// terminal, TERM=xterm unless the container has a TERM (as run -t and
// docker exec -t do).
func execBaseEnv(env []string, tty bool) []string {
	if !tty || slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "TERM=") }) {
		return env
	}
	return append(slices.Clone(env), "TERM=xterm")
}

func mergeEnv(base, add []string) []string {
	out := append([]string{}, base...)
	for _, kv := range add {
		key := kv
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				key = kv[:i]
				break
			}
		}
		replaced := false
		for i, old := range out {
			if len(old) > len(key) && old[:len(key)] == key && old[len(key)] == '=' {
				out[i] = kv
				replaced = true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

// Process is one process of a container, for Top.
type Process struct {
	Pid, PPid int
	State     string
	Command   string
}

// Top lists the processes of a running container.
func (e *Engine) Top(ctx context.Context, ref string) ([]Process, error) {
	c, err := e.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	if c.State.Status != StatusRunning || c.State.Pid <= 0 {
		return nil, fmt.Errorf("top %s: %w", c.Name, ociruntime.ErrNotRunning)
	}
	procs, err := containerProcesses(c.State.Pid)
	if err != nil {
		return nil, fmt.Errorf("top %s: %w", c.Name, err)
	}
	return procs, nil
}

// execTTY runs proc on a pseudo-terminal, as containerd's shim does: the
// runtime starts it detached and sends the terminal's master over a
// console socket; this process, made a subreaper, relays the master to
// opts' streams and reaps the process for its exit code.
func (e *Engine) execTTY(ctx context.Context, c *Container, proc *specs.Process, opts ExecOptions) (int, error) {
	if err := becomeSubreaper(); err != nil {
		return 0, fmt.Errorf("exec -t in %s: %w", c.Name, err)
	}
	id, err := NewID()
	if err != nil {
		return 0, err
	}
	base := filepath.Join(e.runDir(c.ID), "exec-"+id[:8])
	cs, err := NewConsoleSocket(base + ".sock")
	if err != nil {
		return 0, err
	}
	defer cs.Close()
	pidFile := base + ".pid"
	defer os.Remove(pidFile)
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	type received struct {
		f   *os.File
		err error
	}
	masterc := make(chan received, 1)
	go func() {
		f, err := cs.Receive(rctx)
		masterc <- received{f, err}
	}()
	if _, err := e.Runtime.Exec(ctx, c.ID, ociruntime.ExecOpts{
		Process: proc,
		Detach:  true,
		PidFile: pidFile,
		IO:      ociruntime.IO{Terminal: true, ConsoleSocket: cs.Path()},
	}); err != nil {
		return 0, &StartError{Op: "exec", Container: c.Name, Msg: runtimeMessage(err)}
	}
	got := <-masterc
	if got.err != nil {
		return 0, fmt.Errorf("exec -t in %s: %w", c.Name, got.err)
	}
	master := got.f
	defer master.Close()
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, fmt.Errorf("exec -t in %s: pid file: %w", c.Name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, fmt.Errorf("exec -t in %s: pid file: %w", c.Name, err)
	}
	if opts.Stdin != nil {
		go io.Copy(master, opts.Stdin)
	}
	if opts.Resize != nil {
		go func() {
			for sz := range opts.Resize {
				SetTerminalSize(master, sz[0], sz[1])
			}
		}()
	}
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		if opts.Stdout != nil {
			io.Copy(opts.Stdout, master) // ends with EIO when the last slave closes
		}
	}()
	code := waitExit(pid)
	select {
	case <-outDone:
	case <-time.After(2 * time.Second):
	}
	return code, nil
}
