package main

import "github.com/urfave/cli/v2"

// containerCommands are the container verbs; each one's action lives in
// the file of its family (create.go, lifecycle.go, ps.go, logs.go,
// exec.go, top.go, boot.go, monitor.go).
func (a *app) containerCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name: "run", Usage: "create and start a container (pulls a missing image)",
			ArgsUsage: "IMAGE [CMD [ARG...]]",
			Flags: append(runFlags(),
				&cli.BoolFlag{Name: "rm", Usage: "remove the container when it exits"},
				&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "run in the background and print the id"},
			),
			Action: a.run,
		},
		{Name: "create", Usage: "create a container", ArgsUsage: "IMAGE [CMD [ARG...]]", Flags: runFlags(), Action: a.create},
		{
			Name: "start", Usage: "start containers", ArgsUsage: "CONTAINER...",
			Flags:  []cli.Flag{&cli.BoolFlag{Name: "attach", Aliases: []string{"a"}, Usage: "stream the output and return the exit code"}},
			Action: arity(1, -1, a.start),
		},
		{
			Name: "stop", Usage: "stop containers: SIGTERM, then SIGKILL after the timeout", ArgsUsage: "CONTAINER...",
			Flags:  []cli.Flag{&cli.IntFlag{Name: "time", Aliases: []string{"t"}, Value: 10, Usage: "seconds to wait before SIGKILL (default: the container's --stop-timeout, else 10)"}},
			Action: a.stop,
		},
		{
			Name: "restart", Usage: "stop and start containers", ArgsUsage: "CONTAINER...",
			Flags:  []cli.Flag{&cli.IntFlag{Name: "time", Aliases: []string{"t"}, Value: 10, Usage: "seconds to wait before SIGKILL"}},
			Action: a.restart,
		},
		{
			Name: "kill", Usage: "send a signal to containers", ArgsUsage: "CONTAINER...",
			Flags:  []cli.Flag{&cli.StringFlag{Name: "signal", Aliases: []string{"s"}, Value: "KILL", Usage: "signal name or number"}},
			Action: a.kill,
		},
		{
			Name: "rm", Usage: "remove containers", ArgsUsage: "CONTAINER...",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill a running container first"},
				&cli.BoolFlag{Name: "volumes", Aliases: []string{"v"}, Usage: "also remove the container's anonymous volumes"},
			},
			Action: a.rm,
		},
		{
			Name: "ps", Usage: "list containers",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "also stopped containers"},
				&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only ids"},
				&cli.BoolFlag{Name: "no-trunc", Usage: "full ids and commands"},
				&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"}, Usage: "id=, name=, status=, label=K[=V], ancestor=, health= (same key: any; different keys: all)"},
				templateFormatFlag(),
			},
			Action: a.ps,
		},
		{
			Name: "logs", Usage: "print a container's output", ArgsUsage: "CONTAINER",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing until the container stops"},
				&cli.StringFlag{Name: "tail", Value: "all", Usage: "only the last N lines"},
				&cli.StringFlag{Name: "since", Usage: "only lines since a time (RFC 3339) or a duration ago (10m)"},
				&cli.BoolFlag{Name: "timestamps", Usage: "prefix each line with its time"},
			},
			Action: arity(1, 1, a.logs),
		},
		{
			Name: "exec", Usage: "run a command in a running container", ArgsUsage: "CONTAINER CMD [ARG...]",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "pass stdin"},
				&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo-terminal"},
				&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set an environment variable K=V"},
				&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "user[:group] or uid[:gid]"},
				&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory"},
				&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "do not wait for the command"},
			},
			Action: arity(2, -1, a.exec),
		},
		{Name: "wait", Usage: "wait for containers to stop and print their exit codes", ArgsUsage: "CONTAINER...", Action: arity(1, -1, a.wait)},
		{Name: "top", Usage: "list a container's processes", ArgsUsage: "CONTAINER", Action: arity(1, 1, a.top)},
		{
			Name: "monitor", Hidden: true, Usage: "the per-container supervisor (started by stockade itself)",
			ArgsUsage: "ID", Flags: []cli.Flag{&cli.BoolFlag{Name: "wait-attach"}}, Action: arity(1, 1, a.monitor),
		},
	}
}
