package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

// top is `top CONTAINER`: the container's processes.
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
