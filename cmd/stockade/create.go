package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/bundle"
	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/internal/phase"
	"github.com/stockade/stockade/snapshot"
	"github.com/stockade/stockade/volume"
)

// runFlags are the flags run and create share.
func runFlags() []cli.Flag {
	// The families' flags live beside their code: network_run.go,
	// boot_flags.go, security_flags.go, health_flags.go, familiar_flags.go.
	return slices.Concat(networkFlags(), bootFlags(), securityFlags(), []cli.Flag{
		&cli.StringFlag{Name: "name", Usage: "container name (default: generated)"},
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set an environment variable K=V (K alone takes it from here)"},
		&cli.StringSliceFlag{Name: "volume", Aliases: []string{"v"}, Usage: "bind mount SRC:DST[:ro], named volume NAME:DST[:ro] (made on first use), or anonymous volume DST"},
		&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory inside the container"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "user[:group] or uid[:gid]"},
		&cli.StringFlag{Name: "hostname", Usage: "container host name"},
		&cli.StringFlag{Name: "entrypoint", Usage: "override the image's entrypoint"},
		&cli.StringFlag{Name: "restart", Value: "no", Usage: "no, on-failure[:N], always, unless-stopped"},
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
	}, healthFlags(), familiarFlags())
}

// createFromFlags pulls the image if needed and creates the container;
// run says that a start follows at once (run: --rm applies, and the root
// stays mounted for the monitor).
func (a *app) createFromFlags(c *cli.Context, e *engine.Engine, run bool, pending *engine.PendingMonitor) (*engine.Container, error) {
	autoRemove := run && c.Bool("rm")
	if c.NArg() < 1 {
		return nil, fmt.Errorf("%s: an IMAGE is required (usage: %s %s)", c.Command.Name, c.Command.Name, c.Command.ArgsUsage)
	}
	// Bind-mount sources are checked before anything is pulled or made.
	if err := checkVolumeSources(c.StringSlice("volume")); err != nil {
		return nil, err
	}
	netOpts, err := networkOptions(c)
	if err != nil {
		return nil, err
	}
	security, err := securityOptions(c, e.GOOS)
	if err != nil {
		return nil, err
	}
	extras, err := parseRunExtras(c) // familiar_flags.go
	if err != nil {
		return nil, err
	}
	phase.Mark(c.Context, "flags")
	ref := c.Args().First()
	img, err := a.svc.Get(c.Context, ref)
	if errors.Is(err, image.ErrNotFound) {
		dec, derr := a.decrypter(c)
		if derr != nil {
			return nil, derr
		}
		img, err = a.svc.Pull(c.Context, ref, image.PullOptions{Platform: c.String("platform"), Decrypt: dec})
	}
	if err != nil {
		return nil, err
	}
	phase.Mark(c.Context, "image lookup")
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
	exts, netMode, err := networkRequest(c.Context, netOpts, a.svc, img)
	if err != nil {
		return nil, err
	}
	binds, err := volumeRequest(c.Context, c, a.svc, img, exts) // volume.go: named and anonymous volumes
	if err != nil {
		return nil, err
	}
	opts := bundle.Options{
		Args:        c.Args().Tail(),
		Env:         env,
		Volumes:     binds,
		Workdir:     c.String("workdir"),
		User:        c.String("user"),
		Hostname:    c.String("hostname"),
		ReadOnly:    c.Bool("read-only"),
		Tmpfs:       c.StringSlice("tmpfs"),
		Memory:      c.String("memory"),
		CPUs:        c.String("cpus"),
		PidsLimit:   c.Int64("pids-limit"),
		Network:     netMode,
		Annotations: annotations,
		Terminal:    c.Bool("tty"),
		Security:    security,
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
	phase.Mark(c.Context, "network, volume requests")
	return e.Create(c.Context, extras.create(engine.CreateOptions{
		Name: c.String("name"), Image: img, Spec: opts, Restart: policy,
		AutoRemove: autoRemove, Interactive: c.Bool("interactive"), StorageLabels: storage,
		Extensions: exts, Boot: bootOrder(c), KeepRootMounted: run, Monitor: pending,
	}))
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

// create is `create [flags] IMAGE [CMD...]`: it prints the new id.
func (a *app) create(c *cli.Context) error {
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	ctr, err := a.createFromFlags(c, e, false, nil)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, ctr.ID)
	return nil
}

// run is `run [flags] IMAGE [CMD...]`: create, start, and unless -d,
// attach and exit with the container's code.
func (a *app) run(c *cli.Context) error {
	detach := c.Bool("detach")
	// The monitor starts up (exec, init, stores) while the stores are
	// opened and the container is made; if no container comes, it exits
	// having done nothing. main has started it (startRunMonitor) unless
	// it could not.
	pending := a.pending
	a.pending = nil
	if pending == nil {
		var err error
		if pending, err = engine.SpawnMonitor(c.Context, a.parts.MonitorCommand, !detach); err != nil {
			return err
		}
		phase.Mark(c.Context, "monitor spawn (pending)")
	}
	defer pending.Close()
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	phase.Mark(c.Context, "open store, runtime, hooks")
	ctr, err := a.createFromFlags(c, e, true, pending)
	if err != nil {
		// The create checks the command (KeepRootMounted): a missing one
		// exits 127, as when a start finds it.
		return startExit(err)
	}
	pending.Created(ctr)
	if _, err := e.StartWith(c.Context, ctr.ID, !detach, pending); err != nil {
		a.removeUnstarted(c, e, ctr)
		return startExit(err)
	}
	if detach {
		fmt.Fprintln(a.stdout, ctr.ID)
		return nil
	}
	phase.Mark(c.Context, "start")
	err = a.attach(c, e, ctr, true, pending.TakeAttach())
	phase.Mark(c.Context, "attach until the exit")
	var se *engine.StartError
	if errors.As(err, &se) {
		a.removeUnstarted(c, e, ctr)
	}
	return err
}

// removeUnstarted removes a container that run created but that never
// started, whatever the flags: a retry with the same name must work.
func (a *app) removeUnstarted(c *cli.Context, e *engine.Engine, ctr *engine.Container) {
	ctx := context.WithoutCancel(c.Context)
	cur, err := e.Get(ctx, ctr.ID)
	if err != nil || !cur.State.StartedAt.IsZero() {
		return // gone already (--rm), or it did run
	}
	if err := e.Remove(ctx, ctr.ID, true); err != nil {
		a.log.Warn("remove the container that did not start", "container", ctr.Name, "error", err)
	}
}

// checkVolumeSources refuses a -v whose source does not exist on the
// host, naming what the user typed; named and anonymous volumes
// (volume.Request) have no source to check, only their syntax.
func checkVolumeSources(vols []string) error {
	vols, _, err := volume.Request(vols, nil, nil)
	if err != nil {
		return err
	}
	for _, v := range vols {
		vol, err := bundle.ParseVolume(v)
		if err != nil {
			return err
		}
		if _, err := os.Stat(vol.Source); err != nil {
			reason := err.Error()
			if errors.Is(err, fs.ErrNotExist) {
				reason = "no such file or directory"
			}
			return fmt.Errorf("-v %q: source %s: %s", v, vol.Source, reason)
		}
	}
	return nil
}
