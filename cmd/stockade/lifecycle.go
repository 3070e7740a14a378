package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/ociruntime"
)

// startExit maps a start failure to Docker's exit codes: 127 when the
// command does not exist, 126 when it cannot run.
func startExit(err error) error {
	var se *engine.StartError
	if errors.As(err, &se) {
		return &exitError{code: se.ExitCode(), err: err}
	}
	return err
}

// start is `start [-a] CONTAINER...`.
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
		return a.attach(c, e, ctr, true, nil)
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

// stop is `stop [-t S] CONTAINER...`; without -t, each container's own
// --stop-timeout, else 10 seconds.
func (a *app) stop(c *cli.Context) error {
	timeout := time.Duration(c.Int("time")) * time.Second
	if !c.IsSet("time") {
		timeout = -1 // engine.Stop: the container's own
	}
	return a.onEach(c, func(e *engine.Engine, ref string) error {
		return e.Stop(c.Context, ref, timeout)
	})
}

// restart is `restart [-t S] CONTAINER...`: stop, then start.
func (a *app) restart(c *cli.Context) error {
	timeout := time.Duration(c.Int("time")) * time.Second
	if !c.IsSet("time") {
		timeout = -1 // engine.Stop: the container's own
	}
	return a.onEach(c, func(e *engine.Engine, ref string) error {
		if err := e.Stop(c.Context, ref, timeout); err != nil {
			return err
		}
		_, err := e.Start(c.Context, ref, false)
		return startExit(err)
	})
}

// kill is `kill [-s SIG] CONTAINER...`.
func (a *app) kill(c *cli.Context) error {
	sig, err := ociruntime.ParseSignal(c.String("signal"))
	if err != nil {
		return err
	}
	return a.onEach(c, func(e *engine.Engine, ref string) error {
		return e.Kill(c.Context, ref, sig)
	})
}

// rm is `rm [-f] CONTAINER...`.
func (a *app) rm(c *cli.Context) error {
	return a.onEach(c, func(e *engine.Engine, ref string) error {
		return a.removeContainer(c, e, ref) // volume.go: rm -v
	})
}

// wait is `wait CONTAINER...`: it prints each exit code.
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
