package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"
)

// boot is `boot` (rc.d start): it starts the containers whose restart
// policy brings them back at boot and prints their names.
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

// shutdown is `shutdown [-t S]` (rc.d stop): it stops every running
// container, newest first, and prints their names.
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
