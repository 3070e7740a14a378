package main

import (
	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/engine"
)

// pause is `pause CONTAINER...`: runc's freezer on Linux, SIGSTOP of every
// process of the jail on FreeBSD.
func (a *app) pause(c *cli.Context) error {
	return a.onEach(c, func(e *engine.Engine, ref string) error { return e.Pause(c.Context, ref) })
}

// unpause is `unpause CONTAINER...`.
func (a *app) unpause(c *cli.Context) error {
	return a.onEach(c, func(e *engine.Engine, ref string) error { return e.Unpause(c.Context, ref) })
}

// familiarCommands are the docker commands of issue 17's familiar
// options: rename, pause, unpause, events and healthcheck.
func (a *app) familiarCommands() []*cli.Command {
	return []*cli.Command{
		{Name: "rename", Usage: "rename a container", ArgsUsage: "CONTAINER NEW_NAME", Action: arity(2, 2, a.rename)},
		{Name: "pause", Usage: "freeze every process of containers", ArgsUsage: "CONTAINER...", Action: arity(1, -1, a.pause)},
		{Name: "unpause", Usage: "thaw paused containers", ArgsUsage: "CONTAINER...", Action: arity(1, -1, a.unpause)},
		a.eventsCommand(),
		a.healthcheckCommand(),
	}
}
