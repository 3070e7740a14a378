package main

import (
	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/engine"
)

// bootFlags are the boot order flags of run and create.
func bootFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "boot-priority", Value: engine.DefaultBootPriority, Usage: "boot priority `N`: lower starts first among containers whose dependencies run"},
		&cli.StringSliceFlag{Name: "depends-on", Usage: "start at boot only once container `NAME` runs; stop before it at shutdown"},
	}
}

// bootOrder reads the boot order flags; the engine resolves and checks
// the dependencies when it records them.
func bootOrder(c *cli.Context) engine.BootOrder {
	var b engine.BootOrder
	if c.IsSet("boot-priority") {
		p := c.Int("boot-priority")
		b.Priority = &p
	}
	b.DependsOn = c.StringSlice("depends-on")
	return b
}
