package main

import (
	"github.com/urfave/cli/v2"
)

// buildCommand is `build`: an image from a Containerfile.
func (a *app) buildCommand() *cli.Command {
	return &cli.Command{
		Name:      "build",
		Usage:     "build an image from a Containerfile (Dockerfile syntax)",
		ArgsUsage: "CONTEXT",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "tag", Aliases: []string{"t"}, Usage: "name the image `NAME` (repeatable; none leaves it untagged)"},
			&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "the Containerfile (default: CONTEXT/Containerfile, else CONTEXT/Dockerfile)"},
			&cli.StringSliceFlag{Name: "build-arg", Usage: "set the build argument `K=V` (K alone takes it from the environment; repeatable)"},
			&cli.StringFlag{Name: "target", Usage: "build up to the stage `STAGE`"},
			&cli.BoolFlag{Name: "no-cache", Usage: "build every step, taking nothing from the build cache"},
			&cli.BoolFlag{Name: "pull", Usage: "pull the FROM images even when present"},
			&cli.StringFlag{Name: "platform", Usage: "os/arch[/variant] of the FROM images (default: this host's)"},
			&cli.StringSliceFlag{Name: "label", Usage: "add the label `K=V` to the image (repeatable)"},
			&cli.StringFlag{Name: "compression", Usage: "compress new layers with gzip, zstd or none", Value: "gzip"},
			&cli.StringFlag{Name: "network", Usage: "RUN's network: none or host", Value: "none"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the image id"},
			&cli.StringFlag{Name: "format", Usage: "output format: text or json (the result as JSON on stdout, the steps on stderr)", Value: "text"},
		},
		Action: arity(1, 1, a.build),
	}
}
