package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/stockade/stockade/backend"
	"github.com/stockade/stockade/bundle"
	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/ociruntime"
	"github.com/stockade/stockade/snapshot"
)

// engine opens, once per command, the engine over the image service.
func (a *app) engine(c *cli.Context) (*engine.Engine, error) {
	if a.eng != nil {
		return a.eng, nil
	}
	svc, err := a.imageService(c)
	if err != nil {
		return nil, err
	}
	rt, err := a.runtime()
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the stockade binary: %w", err)
	}
	global := a.globalArgs(c)
	e := &engine.Engine{
		Root: a.cfg.Root, StateDir: a.cfg.State, DB: svc.DB, Images: svc,
		Snapshotter: svc.Snapshotter, SnapshotterName: svc.SnapshotterName,
		Runtime: rt, GOOS: runtime.GOOS, Log: a.log,
	}
	if e.Hooks, err = a.hooks(c, e); err != nil {
		return nil, err
	}
	e.MonitorCommand = func(id string, waitAttach bool) *exec.Cmd {
		args := append(append([]string{}, global...), "monitor")
		if waitAttach {
			args = append(args, "--wait-attach")
		}
		cmd := exec.Command(self, append(args, id)...)
		if f, err := os.OpenFile(filepath.Join(a.cfg.State, "monitor.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
			cmd.Stderr = f
		}
		return cmd
	}
	a.eng = e
	return e, nil
}

// globalArgs repeats this invocation's effective global settings for a
// re-exec of stockade (the monitor).
func (a *app) globalArgs(c *cli.Context) []string {
	args := []string{"--root", a.cfg.Root, "--state", a.cfg.State, "--log-level", a.cfg.LogLevel, "--log-format", a.cfg.LogFormat}
	if a.cfg.Snapshotter != "" {
		args = append(args, "--snapshotter", a.cfg.Snapshotter)
	}
	if c.IsSet("config") {
		args = append(args, "--config", c.String("config"))
	}
	return args
}

// runtime returns the configured container runtime. A runtime whose
// program is missing is stockade's own error (125), found before anything
// is created.
func (a *app) runtime() (ociruntime.Runtime, error) {
	be, err := backend.Runtimes().Lookup(a.cfg.Runtime, runtime.GOOS)
	if err != nil {
		return nil, err
	}
	opts := backend.RuntimeOptions{Dir: filepath.Join(a.cfg.State, be.StateDir), Binary: a.cfg.Runc.Binary, Log: a.log}
	if be.Probe != nil {
		if err := be.Probe(opts); err != nil {
			return nil, err
		}
	}
	return be.Open(opts)
}

func runFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "name", Usage: "container name (default: generated)"},
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set an environment variable K=V (K alone takes it from here)"},
		&cli.StringSliceFlag{Name: "volume", Aliases: []string{"v"}, Usage: "bind mount SRC:DST[:ro]"},
		&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory inside the container"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "user[:group] or uid[:gid]"},
		&cli.StringFlag{Name: "hostname", Usage: "container host name"},
		&cli.StringFlag{Name: "entrypoint", Usage: "override the image's entrypoint"},
		&cli.StringFlag{Name: "restart", Value: "no", Usage: "no, on-failure[:N], always, unless-stopped"},
		&cli.StringFlag{Name: "network", Usage: "host or none"},
		&cli.StringFlag{Name: "memory", Aliases: []string{"m"}, Usage: "memory limit, e.g. 512m"},
		&cli.StringFlag{Name: "cpus", Usage: "CPU limit, e.g. 1.5"},
		&cli.Int64Flag{Name: "pids-limit", Usage: "maximum number of processes"},
		&cli.BoolFlag{Name: "read-only", Usage: "mount the root file system read-only"},
		&cli.StringSliceFlag{Name: "tmpfs", Usage: "mount a tmpfs at PATH[:OPTIONS]"},
		&cli.StringSliceFlag{Name: "annotation", Usage: "add an OCI annotation K=V"},
		&cli.StringSliceFlag{Name: "storage-opt", Usage: "root file system option: size=SIZE (a quota, zfs snapshotter)"},
		&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "keep stdin open"},
		&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo-terminal"},
		&cli.StringFlag{Name: "platform", Usage: "platform of an image to pull"},
		&cli.StringSliceFlag{Name: "key", Usage: "decryption key FILE[:password] for an encrypted image to pull (repeatable)"},
		&cli.StringSliceFlag{Name: "dec-recipient", Usage: "pkcs7:CERT needed with PKCS7 keys (repeatable)"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no pull progress"},
	}
}

func (a *app) containerCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name: "run", Usage: "create and start a container (pulls a missing image)",
			ArgsUsage: "IMAGE [CMD [ARG...]]",
			Flags: append(runFlags(),
				&cli.BoolFlag{Name: "rm", Usage: "remove the container when it exits"},
				&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "run in the background and print the id"},
			),
			Action: a.run,
		},
		{Name: "create", Usage: "create a container", ArgsUsage: "IMAGE [CMD [ARG...]]", Flags: runFlags(), Action: a.create},
		{
			Name: "start", Usage: "start containers", ArgsUsage: "CONTAINER...",
			Flags:  []cli.Flag{&cli.BoolFlag{Name: "attach", Aliases: []string{"a"}, Usage: "stream the output and return the exit code"}},
			Action: arity(1, -1, a.start),
		},
		{
			Name: "stop", Usage: "stop containers: SIGTERM, then SIGKILL after the timeout", ArgsUsage: "CONTAINER...",
			Flags:  []cli.Flag{&cli.IntFlag{Name: "time", Aliases: []string{"t"}, Value: 10, Usage: "seconds to wait before SIGKILL"}},
			Action: a.stop,
		},
		{
			Name: "restart", Usage: "stop and start containers", ArgsUsage: "CONTAINER...",
			Flags:  []cli.Flag{&cli.IntFlag{Name: "time", Aliases: []string{"t"}, Value: 10, Usage: "seconds to wait before SIGKILL"}},
			Action: a.restart,
		},
		{
			Name: "kill", Usage: "send a signal to containers", ArgsUsage: "CONTAINER...",
			Flags:  []cli.Flag{&cli.StringFlag{Name: "signal", Aliases: []string{"s"}, Value: "KILL", Usage: "signal name or number"}},
			Action: a.kill,
		},
		{
			Name: "rm", Usage: "remove containers", ArgsUsage: "CONTAINER...",
			Flags:  []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill a running container first"}},
			Action: a.rm,
		},
		{
			Name: "ps", Usage: "list containers",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "also stopped containers"},
				&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only ids"},
				formatFlag(),
			},
			Action: a.ps,
		},
		{
			Name: "logs", Usage: "print a container's output", ArgsUsage: "CONTAINER",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing until the container stops"},
				&cli.StringFlag{Name: "tail", Value: "all", Usage: "only the last N lines"},
				&cli.StringFlag{Name: "since", Usage: "only lines since a time (RFC 3339) or a duration ago (10m)"},
				&cli.BoolFlag{Name: "timestamps", Usage: "prefix each line with its time"},
			},
			Action: arity(1, 1, a.logs),
		},
		{
			Name: "exec", Usage: "run a command in a running container", ArgsUsage: "CONTAINER CMD [ARG...]",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "pass stdin"},
				&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo-terminal"},
				&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set an environment variable K=V"},
				&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "user[:group] or uid[:gid]"},
				&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory"},
				&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "do not wait for the command"},
			},
			Action: arity(2, -1, a.exec),
		},
		{Name: "wait", Usage: "wait for containers to stop and print their exit codes", ArgsUsage: "CONTAINER...", Action: arity(1, -1, a.wait)},
		{Name: "top", Usage: "list a container's processes", ArgsUsage: "CONTAINER", Action: arity(1, 1, a.top)},
		{Name: "boot", Usage: "start the containers whose restart policy asks to come back at boot (rc.d)", Action: a.boot},
		{
			Name: "shutdown", Usage: "stop every running container, newest first (rc.d)",
			Flags:  []cli.Flag{&cli.IntFlag{Name: "time", Aliases: []string{"t"}, Value: 10, Usage: "seconds to wait before SIGKILL"}},
			Action: a.shutdown,
		},
		{
			Name: "monitor", Hidden: true, Usage: "the per-container supervisor (started by stockade itself)",
			ArgsUsage: "ID", Flags: []cli.Flag{&cli.BoolFlag{Name: "wait-attach"}}, Action: arity(1, 1, a.monitor),
		},
	}
}

// createFromFlags pulls the image if needed and creates the container.
func (a *app) createFromFlags(c *cli.Context, e *engine.Engine, autoRemove bool) (*engine.Container, error) {
	if c.NArg() < 1 {
		return nil, fmt.Errorf("%s: an IMAGE is required (usage: %s %s)", c.Command.Name, c.Command.Name, c.Command.ArgsUsage)
	}
	ref := c.Args().First()
	img, err := e.Images.Get(c.Context, ref)
	if errors.Is(err, image.ErrNotFound) {
		dec, derr := a.decrypter(c)
		if derr != nil {
			return nil, derr
		}
		img, err = e.Images.Pull(c.Context, ref, image.PullOptions{Platform: c.String("platform"), Decrypt: dec})
	}
	if err != nil {
		return nil, err
	}
	policy, err := engine.ParseRestartPolicy(c.String("restart"))
	if err != nil {
		return nil, err
	}
	if autoRemove && policy.Name != "no" {
		return nil, errors.New("--rm and --restart cannot be used together")
	}
	env, err := expandEnv(c.StringSlice("env"))
	if err != nil {
		return nil, err
	}
	annotations := map[string]string{}
	for _, kv := range c.StringSlice("annotation") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--annotation %q: want KEY=VALUE", kv)
		}
		annotations[k] = v
	}
	opts := bundle.Options{
		Args:        c.Args().Tail(),
		Env:         env,
		Volumes:     c.StringSlice("volume"),
		Workdir:     c.String("workdir"),
		User:        c.String("user"),
		Hostname:    c.String("hostname"),
		ReadOnly:    c.Bool("read-only"),
		Tmpfs:       c.StringSlice("tmpfs"),
		Memory:      c.String("memory"),
		CPUs:        c.String("cpus"),
		PidsLimit:   c.Int64("pids-limit"),
		Network:     c.String("network"),
		Annotations: annotations,
		Terminal:    c.Bool("tty"),
	}
	if c.IsSet("entrypoint") {
		opts.EntrypointSet = true
		if ep := c.String("entrypoint"); ep != "" {
			opts.Entrypoint = []string{ep}
		}
	}
	storage := map[string]string{}
	for _, kv := range c.StringSlice("storage-opt") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k != "size" || v == "" {
			return nil, fmt.Errorf("--storage-opt %q: only size=SIZE is known", kv)
		}
		q, ok := e.Snapshotter.(snapshot.Quota)
		if !ok {
			return nil, fmt.Errorf("--storage-opt size: needs the zfs snapshotter (this is %s)", e.SnapshotterName)
		}
		if _, err := q.ParseQuota(v); err != nil {
			return nil, fmt.Errorf("--storage-opt %q: %w", kv, err)
		}
		storage[snapshot.LabelSize] = v
	}
	return e.Create(c.Context, engine.CreateOptions{
		Name: c.String("name"), Image: img, Spec: opts, Restart: policy,
		AutoRemove: autoRemove, Interactive: c.Bool("interactive"), StorageLabels: storage,
	})
}

// expandEnv turns "K" into "K=<value here>", as docker -e does.
func expandEnv(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, kv := range in {
		if kv == "" || kv[0] == '=' {
			return nil, fmt.Errorf("-e %q: want KEY=VALUE or KEY", kv)
		}
		if !strings.Contains(kv, "=") {
			v, ok := os.LookupEnv(kv)
			if !ok {
				continue
			}
			kv += "=" + v
		}
		out = append(out, kv)
	}
	return out, nil
}

func (a *app) create(c *cli.Context) error {
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	ctr, err := a.createFromFlags(c, e, false)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, ctr.ID)
	return nil
}

func (a *app) run(c *cli.Context) error {
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	detach := c.Bool("detach")
	ctr, err := a.createFromFlags(c, e, c.Bool("rm"))
	if err != nil {
		return err
	}
	if _, err := e.Start(c.Context, ctr.ID, !detach); err != nil {
		if c.Bool("rm") {
			e.Remove(context.WithoutCancel(c.Context), ctr.ID, true)
		}
		return startExit(err)
	}
	if detach {
		fmt.Fprintln(a.stdout, ctr.ID)
		return nil
	}
	return a.attach(c, e, ctr, true)
}

// attach streams a container's output until it exits and returns its
// exit code as the command's. SIGINT and SIGTERM are passed on; a second
// one kills the container.
func (a *app) attach(c *cli.Context, e *engine.Engine, ctr *engine.Container, start bool) error {
	// The attach must outlive the command's own cancellation on Ctrl-C.
	ctx := context.WithoutCancel(c.Context)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		n := 0
		for s := range sigs {
			sig := s.(syscall.Signal)
			if n++; n > 1 {
				sig = syscall.SIGKILL
			}
			e.Kill(ctx, ctr.ID, sig)
		}
	}()
	opts := engine.AttachOptions{Stdout: a.stdout, Stderr: a.stderr, Start: start}
	if ctr.Interactive {
		opts.Stdin = a.stdin
	}
	if ctr.Terminal {
		restore, resize := a.rawTerminal()
		defer restore()
		opts.Resize = resize
	}
	code, err := e.Attach(ctx, ctr.ID, opts)
	if err != nil {
		return startExit(err)
	}
	return &exitError{code: code}
}

// startExit maps a start failure to Docker's exit codes: 127 when the
// command does not exist, 126 when it cannot run.
func startExit(err error) error {
	var se *engine.StartError
	if errors.As(err, &se) {
		return &exitError{code: se.ExitCode(), err: err}
	}
	return err
}

func (a *app) start(c *cli.Context) error {
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	if c.Bool("attach") {
		if c.NArg() != 1 {
			return errors.New("start --attach takes one container")
		}
		ctr, err := e.Start(c.Context, c.Args().First(), true)
		if err != nil {
			return startExit(err)
		}
		return a.attach(c, e, ctr, true)
	}
	return a.each(c, func(ref string) error {
		ctr, err := e.Start(c.Context, ref, false)
		if err != nil {
			return startExit(err)
		}
		fmt.Fprintln(a.stdout, ctr.Name)
		return nil
	})
}

// each runs fn for every argument, reporting all failures.
func (a *app) each(c *cli.Context, fn func(ref string) error) error {
	var errs []error
	for _, ref := range c.Args().Slice() {
		if err := fn(ref); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 1 {
		return errs[0]
	}
	if len(errs) > 1 {
		msgs := make([]string, len(errs))
		for i, err := range errs {
			msgs[i] = err.Error()
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

// onEach opens the engine and runs fn for every CONTAINER argument,
// printing each one done, as docker does, and reporting every failure.
func (a *app) onEach(c *cli.Context, fn func(e *engine.Engine, ref string) error) error {
	if err := args(c, 1, -1); err != nil {
		return err
	}
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	return a.each(c, func(ref string) error {
		if err := fn(e, ref); err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, ref)
		return nil
	})
}

func (a *app) stop(c *cli.Context) error {
	timeout := time.Duration(c.Int("time")) * time.Second
	return a.onEach(c, func(e *engine.Engine, ref string) error {
		return e.Stop(c.Context, ref, timeout)
	})
}

func (a *app) restart(c *cli.Context) error {
	timeout := time.Duration(c.Int("time")) * time.Second
	return a.onEach(c, func(e *engine.Engine, ref string) error {
		if err := e.Stop(c.Context, ref, timeout); err != nil {
			return err
		}
		_, err := e.Start(c.Context, ref, false)
		return startExit(err)
	})
}

func (a *app) kill(c *cli.Context) error {
	sig, err := ociruntime.ParseSignal(c.String("signal"))
	if err != nil {
		return err
	}
	return a.onEach(c, func(e *engine.Engine, ref string) error {
		return e.Kill(c.Context, ref, sig)
	})
}

func (a *app) rm(c *cli.Context) error {
	return a.onEach(c, func(e *engine.Engine, ref string) error {
		return e.Remove(c.Context, ref, c.Bool("force"))
	})
}

// psEntry is one container in `ps --format json`.
type psEntry struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Image    string            `json:"image"`
	Command  []string          `json:"command"`
	Created  time.Time         `json:"created"`
	Status   string            `json:"status"`
	State    engine.State      `json:"state"`
	Restart  string            `json:"restart"`
	Labels   map[string]string `json:"labels,omitempty"`
	ExitCode int               `json:"exitCode"`
}

func (a *app) ps(c *cli.Context) error {
	asJSON, err := checkFormat(c)
	if err != nil {
		return err
	}
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	all, err := e.List(c.Context)
	if err != nil {
		return err
	}
	now := time.Now()
	entries := []psEntry{}
	for _, ctr := range all {
		if !c.Bool("all") && !ctr.State.Running() {
			continue
		}
		entries = append(entries, psEntry{
			ID: ctr.ID, Name: ctr.Name, Image: ctr.Image, Command: ctr.Command, Created: ctr.Created,
			Status: ctr.State.Describe(now), State: ctr.State, Restart: ctr.Restart.String(),
			Labels: ctr.Labels, ExitCode: ctr.State.ExitCode,
		})
	}
	if asJSON {
		return writeJSON(a.stdout, entries)
	}
	if c.Bool("quiet") {
		for _, p := range entries {
			fmt.Fprintln(a.stdout, p.ID[:12])
		}
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tNAME")
	for _, p := range entries {
		cmd := strings.Join(p.Command, " ")
		if len(cmd) > 30 {
			cmd = cmd[:27] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%q\t%s\t%s\t%s\n", p.ID[:12], p.Image, cmd, since(p.Created), p.Status, p.Name)
	}
	return tw.Flush()
}

func (a *app) logs(c *cli.Context) error {
	opts := engine.LogOptions{Tail: -1, Follow: c.Bool("follow")}
	if t := c.String("tail"); t != "all" {
		n, err := parseNonNegative(t)
		if err != nil {
			return fmt.Errorf("--tail %q: want a number or all", t)
		}
		opts.Tail = n
	}
	if s := c.String("since"); s != "" {
		if d, err := time.ParseDuration(s); err == nil {
			opts.Since = time.Now().Add(-d)
		} else if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			opts.Since = t
		} else {
			return fmt.Errorf("--since %q: want an RFC 3339 time or a duration such as 10m", s)
		}
	}
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	ctr, err := e.Get(c.Context, c.Args().First())
	if err != nil {
		return err
	}
	opts.Done = func() bool {
		cur, err := e.Get(context.WithoutCancel(c.Context), ctr.ID)
		return err != nil || !cur.State.Running()
	}
	stamps := c.Bool("timestamps")
	return engine.ReadLog(c.Context, e.LogPath(ctr.ID), opts, func(le engine.LogEntry) error {
		w := a.stdout
		if le.Stream == "stderr" {
			w = a.stderr
		}
		if stamps {
			fmt.Fprint(w, le.Time.Format(time.RFC3339Nano)+" ")
		}
		_, err := fmt.Fprint(w, le.Log)
		return err
	})
}

func parseNonNegative(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, errors.New("not a number")
	}
	return n, nil
}

func (a *app) exec(c *cli.Context) error {
	env, err := expandEnv(c.StringSlice("env"))
	if err != nil {
		return err
	}
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	opts := engine.ExecOptions{
		Args: c.Args().Tail(), Env: env, User: c.String("user"), Workdir: c.String("workdir"),
		Detach: c.Bool("detach"), Stdout: a.stdout, Stderr: a.stderr, TTY: c.Bool("tty"),
	}
	if c.Bool("interactive") {
		opts.Stdin = a.stdin
	}
	if opts.TTY {
		restore, resize := a.rawTerminal()
		defer restore()
		opts.Resize = resize
	}

	code, err := e.Exec(c.Context, c.Args().First(), opts)
	if err != nil {
		return startExit(err)
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

func (a *app) wait(c *cli.Context) error {
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	return a.each(c, func(ref string) error {
		code, err := e.Wait(c.Context, ref)
		if err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, code)
		return nil
	})
}

func (a *app) top(c *cli.Context) error {
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	procs, err := e.Top(c.Context, c.Args().First())
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "PID\tPPID\tSTATE\tCOMMAND")
	for _, p := range procs {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\n", p.Pid, p.PPid, p.State, p.Command)
	}
	return tw.Flush()
}

func (a *app) monitor(c *cli.Context) error {
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	syncFile := os.NewFile(3, "sync")
	return e.RunMonitor(context.WithoutCancel(c.Context), c.Args().First(), c.Bool("wait-attach"), syncFile)
}

func (a *app) boot(c *cli.Context) error {
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	started, err := e.Boot(c.Context)
	for _, n := range started {
		fmt.Fprintln(a.stdout, n)
	}
	return err
}

func (a *app) shutdown(c *cli.Context) error {
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	stopped, err := e.Shutdown(c.Context, time.Duration(c.Int("time"))*time.Second)
	for _, n := range stopped {
		fmt.Fprintln(a.stdout, n)
	}
	return err
}

// rawTerminal puts stdin in raw mode when it is a terminal, and returns
// the function that restores it and a channel of window sizes (the
// current one, then one per SIGWINCH).
func (a *app) rawTerminal() (restore func(), resize <-chan [2]uint16) {
	in, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return func() {}, nil
	}
	state, err := term.MakeRaw(int(in.Fd()))
	if err != nil {
		return func() {}, nil
	}
	sizes := make(chan [2]uint16, 1)
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	send := func() {
		if w, h, err := term.GetSize(int(in.Fd())); err == nil {
			select {
			case sizes <- [2]uint16{uint16(h), uint16(w)}:
			default:
			}
		}
	}
	send()
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-winch:
				send()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(winch)
		close(done)
		term.Restore(int(in.Fd()), state)
	}, sizes
}
