package main

import (
	"fmt"
	"strings"

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
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "after-sleep", Usage: "the interval has passed: check at once (after the small monitor slept it)"},
					&cli.StringFlag{Name: "run-started", Usage: "the start of the run the checker serves (RFC 3339)"},
				},
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
// checks of a running container, until it stops or SIGTERM
// (assemble.Parts.RunHealthMonitor; stockade-supervisor runs the same).
func (a *app) healthcheckMonitor(c *cli.Context) error {
	return a.parts.RunHealthMonitor(c.Context, c.Args().First(), c.Bool("after-sleep"), c.String("run-started"))
}
