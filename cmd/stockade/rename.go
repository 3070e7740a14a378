package main

import "github.com/urfave/cli/v2"

// rename is `rename CONTAINER NEW_NAME`.
func (a *app) rename(c *cli.Context) error {
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	return e.Rename(c.Context, c.Args().Get(0), c.Args().Get(1))
}
