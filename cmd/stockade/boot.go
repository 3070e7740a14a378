package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/engine"
)

// bootCommands are boot, shutdown (used by rc.d) and update.
func (a *app) bootCommands() []*cli.Command {
	parallel := &cli.IntFlag{Name: "parallel", Aliases: []string{"p"}, Value: 4, Usage: "start or stop at most `N` containers at once"}
	return []*cli.Command{
		{
			Name:   "boot",
			Usage:  "start the containers whose restart policy asks to come back at boot, dependencies first, then by boot priority (rc.d)",
			Flags:  []cli.Flag{parallel},
			Action: arity(0, 0, a.boot),
		},
		{
			Name:  "shutdown",
			Usage: "stop every running container, in the reverse of boot order (rc.d)",
			Flags: []cli.Flag{
				parallel,
				&cli.IntFlag{Name: "time", Aliases: []string{"t"}, Value: 10, Usage: "`SECONDS` each container gets to stop before SIGKILL"},
			},
			Action: arity(0, 0, a.shutdown),
		},
		{
			Name:      "update",
			Usage:     "change containers' boot order and restart policy",
			ArgsUsage: "CONTAINER...",
			Flags: []cli.Flag{
				&cli.IntFlag{Name: "boot-priority", Usage: "boot priority `N`: lower starts first among containers whose dependencies run"},
				&cli.StringSliceFlag{Name: "depends-on", Usage: "depend on container `NAME` instead of the dependencies so far (\"\" clears them)"},
				&cli.StringFlag{Name: "restart", Usage: "restart `POLICY`: no, on-failure[:N], always, unless-stopped"},
			},
			Action: arity(1, -1, a.update),
		},
	}
}

// boot is `boot [--parallel N]` (rc.d start): it starts the containers
// whose restart policy brings them back at boot and prints their names
// as they come up.
func (a *app) boot(c *cli.Context) error {
	if c.Int("parallel") < 1 {
		return fmt.Errorf("boot: --parallel %d: must be at least 1", c.Int("parallel"))
	}
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	started, err := e.Boot(c.Context, engine.BootOptions{Parallel: c.Int("parallel")})
	for _, n := range started {
		fmt.Fprintln(a.stdout, n)
	}
	return err
}

// shutdown is `shutdown [--parallel N] [-t S]` (rc.d stop): it stops every
// running container, dependents before what they depend on, and prints
// their names as they stop.
func (a *app) shutdown(c *cli.Context) error {
	if c.Int("parallel") < 1 {
		return fmt.Errorf("shutdown: --parallel %d: must be at least 1", c.Int("parallel"))
	}
	if c.Int("time") < 0 {
		return fmt.Errorf("shutdown: --time %d: must be 0 or more", c.Int("time"))
	}
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	stopped, err := e.Shutdown(c.Context, engine.ShutdownOptions{
		Parallel: c.Int("parallel"),
		Timeout:  time.Duration(c.Int("time")) * time.Second,
	})
	for _, n := range stopped {
		fmt.Fprintln(a.stdout, n)
	}
	return err
}
