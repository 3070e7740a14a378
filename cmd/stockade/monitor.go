package main

import "github.com/urfave/cli/v2"

// monitor is the hidden `monitor ID`: the per-container supervisor the
// engine starts when its hooks need stockade itself (NRI); otherwise the
// engine starts stockade-supervisor, which runs the same code
// (assemble.Parts.RunMonitor).
func (a *app) monitor(c *cli.Context) error {
	return a.parts.RunMonitor(c.Context, c.Args().First(), c.Bool("wait-attach"))
}
