package main

import (
	"os"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/image"
)

// imageService opens, once per command, what the image commands need: the
// metadata store, the snapshotter and the image service
// (assemble.Parts.ImageService), with progress bars on a terminal.
func (a *app) imageService(c *cli.Context) (*image.Service, error) {
	if f, ok := a.stderr.(*os.File); ok && a.parts.Progress == nil && term.IsTerminal(int(f.Fd())) && !c.Bool("quiet") {
		a.parts.Progress = f
	}
	return a.parts.ImageService(c.Context)
}

// engine opens, once per command, the engine over the image service
// (assemble.Parts.Engine; the NRI hooks come from nriHooks).
func (a *app) engine(c *cli.Context) (*engine.Engine, error) {
	if _, err := a.imageService(c); err != nil {
		return nil, err
	}
	return a.parts.Engine(c.Context)
}
