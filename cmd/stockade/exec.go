package main

import (
	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/engine"
)

// exec is `exec [-i] [-t] [-d] [-e] [-u] [-w] CONTAINER CMD...`; it exits
// with the command's status.
func (a *app) exec(c *cli.Context) error {
	env, err := expandEnv(c.StringSlice("env"))
	if err != nil {
		return err
	}
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	opts := engine.ExecOptions{
		Args: c.Args().Tail(), Env: env, User: c.String("user"), Workdir: c.String("workdir"),
		Detach: c.Bool("detach"), Stdout: a.stdout, Stderr: a.stderr, TTY: c.Bool("tty"),
	}
	if c.Bool("interactive") {
		opts.Stdin = a.stdin
	}
	if opts.TTY {
		restore, resize := a.rawTerminal()
		defer restore()
		opts.Resize = resize
	}

	code, err := e.Exec(c.Context, c.Args().First(), opts)
	if err != nil {
		return startExit(err)
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}
