package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

// healthcheckCommand is `healthcheck run NAME`, and the hidden
// `healthcheck monitor ID` the container's monitor starts.
func (a *app) healthcheckCommand() *cli.Command {
	return &cli.Command{
		Name:  "healthcheck",
		Usage: "run containers' health checks",
		Subcommands: []*cli.Command{
			{
				Name: "run", Usage: "run a container's health check now, record and print its result; exit 0 when it passed, 1 when not",
				ArgsUsage: "CONTAINER", Action: arity(1, 1, a.healthcheckRun),
			},
			{
				Name: "monitor", Hidden: true, Usage: "a container's health checker (started by its monitor)",
				ArgsUsage: "ID", Action: arity(1, 1, a.healthcheckMonitor),
			},
		},
	}
}

// healthcheckRun is `healthcheck run CONTAINER`: the check's output, then
// its verdict; the exit code is 0 for a pass and 1 for a failure.
func (a *app) healthcheckRun(c *cli.Context) error {
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	r, state, err := e.RunHealthcheck(c.Context, c.Args().First())
	if err != nil {
		return err
	}
	if out := strings.TrimRight(r.Output, "\n"); out != "" {
		fmt.Fprintln(a.stdout, out)
	}
	fmt.Fprintln(a.stdout, state.Status)
	if r.ExitCode != 0 {
		return &exitError{code: 1}
	}
	return nil
}

// healthcheckMonitor is the hidden `healthcheck monitor ID`: the loop of
// checks of a running container, until it stops or SIGTERM.
func (a *app) healthcheckMonitor(c *cli.Context) error {
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.WithoutCancel(c.Context), syscall.SIGTERM)
	defer stop()
	return e.RunHealthLoop(ctx, c.Args().First())
}

// healthCommand is the engine's HealthCommand: a re-exec of stockade
// running `healthcheck monitor ID`, its errors in the state directory's
// monitor.log.
func (a *app) healthCommand(self string, global []string, id string) *exec.Cmd {
	args := append(append([]string{}, global...), "healthcheck", "monitor", id)
	cmd := exec.Command(self, args...)
	if f, err := os.OpenFile(filepath.Join(a.cfg.State, "monitor.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
		cmd.Stderr = f
	}
	return cmd
}
