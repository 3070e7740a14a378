package main

import (
	"context"
	"os"

	"github.com/urfave/cli/v2"
)

// monitor is the hidden `monitor ID`: the per-container supervisor the
// engine starts, with the sync pipe as descriptor 3.
func (a *app) monitor(c *cli.Context) error {
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	syncFile := os.NewFile(3, "sync")
	return e.RunMonitor(context.WithoutCancel(c.Context), c.Args().First(), c.Bool("wait-attach"), syncFile)
}
