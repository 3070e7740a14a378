package runc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/stockade/stockade/ociruntime"
)

var _ ociruntime.ForegroundRunner = (*Runtime)(nil)

// RunForeground runs `runc run --bundle B --pid-file P ID` (or crun's) without
// --detach and returns once runc wrote the pid file, i.e. once the
// container's process runs, with runc's pid (ociruntime.ForegroundRunner).
// runc then stays the parent of the container's process: it copies the
// process's stdio from and to the files of opts.IO, forwards the signals
// it gets, ends with the process's exit status (128+n for signal n) and
// deletes the container. The caller reaps runc; this function does not
// wait for it unless it ended before the pid file came, when its error
// is returned as Run's would be.
//
// crun does the same; TestRunForeground passes with STOCKADE_TEST_RUNC=crun on a
// host whose cgroups crun accepts. A pseudo-terminal is not supported
// (runc would want its own stdin to be one), nor are extra descriptors.
func (r *Runtime) RunForeground(ctx context.Context, id string, opts ociruntime.CreateOpts) (int, error) {
	if opts.IO.Terminal || opts.PidFile == "" || len(opts.IO.ExtraFiles) > 0 {
		return 0, fmt.Errorf("%s run in the foreground: %w", r.name, errors.ErrUnsupported)
	}
	// runc gets the files themselves: nothing of this process may copy.
	for _, s := range []any{opts.IO.Stdin, opts.IO.Stdout, opts.IO.Stderr} {
		if _, ok := s.(*os.File); !ok && s != nil {
			return 0, fmt.Errorf("%s run in the foreground with stdio that is not a file: %w", r.name, errors.ErrUnsupported)
		}
	}
	args := []string{"run"}
	if opts.Bundle != "" {
		args = append(args, "--bundle", opts.Bundle)
	}
	args = append(args, "--pid-file", opts.PidFile, id)
	// runc outlives this call: ctx must not kill it once it runs (the
	// exec package would, on a cancel, until the process is waited for).
	c, err := r.command(context.WithoutCancel(ctx), "run", id, args)
	if err != nil {
		return 0, err
	}
	defer c.cleanup()
	w, err := newStartWatch(filepath.Dir(opts.PidFile))
	if err != nil {
		// Nothing started yet: the caller can run runc detached.
		return 0, fmt.Errorf("%s run in the foreground: watch for the pid file: %v: %w", r.name, err, errors.ErrUnsupported)
	}
	defer w.close()
	att, err := c.attach(opts.IO)
	if err != nil {
		return 0, c.fail(err.Error(), err)
	}
	if err := c.cmd.Start(); err != nil {
		att.ran()
		return 0, c.result(err)
	}
	att.ran()
	pid := c.cmd.Process.Pid
	started, err := w.wait(ctx, pid, opts.PidFile)
	if started {
		// The monitor reaps runc with its other children.
		c.cmd.Process.Release()
		return pid, nil
	}
	if err != nil {
		// ctx ended, or the watch failed: runc is stopped, as Run's
		// would be by its context.
		c.cmd.Process.Kill()
		werr := c.cmd.Wait()
		return 0, c.fail(fmt.Sprintf("%v (%v)", err, werr), err)
	}
	return 0, c.result(runcEnded(c.cmd.Wait()))
}

// runcEnded is the error of a runc that ended before it wrote the pid
// file: its own error, or, when it exited 0 (it never does without
// starting the process), one that says so.
func runcEnded(err error) error {
	if err == nil {
		return errors.New("runc ended without writing the pid file")
	}
	return err
}

// Holds reports whether runc keeps a state directory for id under its
// root (ociruntime.ForegroundRunner): after a foreground run that ended
// normally it has deleted it. Without a root of stockade's own it cannot
// tell and says true.
func (r *Runtime) Holds(id string) bool {
	if r.root == "" {
		return true
	}
	return validContainerDir(r.root, id)
}
