package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/engine"
)

// update is `update [--boot-priority N] [--depends-on NAME]...
// [--restart POLICY] CONTAINER...`: all containers change or none does,
// and it prints their names.
func (a *app) update(c *cli.Context) error {
	var opts engine.UpdateOptions
	if c.IsSet("boot-priority") {
		p := c.Int("boot-priority")
		opts.Priority = &p
	}
	if c.IsSet("depends-on") {
		opts.DependsOn = []string{}
		for _, d := range c.StringSlice("depends-on") {
			if d != "" {
				opts.DependsOn = append(opts.DependsOn, d)
			}
		}
	}
	if c.IsSet("restart") {
		p, err := engine.ParseRestartPolicy(c.String("restart"))
		if err != nil {
			return err
		}
		opts.Restart = &p
	}
	if opts.Priority == nil && opts.DependsOn == nil && opts.Restart == nil {
		return errors.New("update: nothing to change (give --boot-priority, --depends-on or --restart)")
	}
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	updated, err := e.Update(c.Context, c.Args().Slice(), opts)
	if err != nil {
		return err
	}
	for _, u := range updated {
		fmt.Fprintln(a.stdout, u.Name)
	}
	return nil
}
