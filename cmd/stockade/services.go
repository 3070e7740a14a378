package main

import (
	"os"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/image"
)

// imageService opens, once per command, what the image commands need:
// the metadata store and the snapshotter (assemble.Parts.Stores) and the
// image service over them, with progress bars on a terminal. The engine
// (engine) gets it as its image store.
func (a *app) imageService(c *cli.Context) (*image.Service, error) {
	if a.svc != nil {
		return a.svc, nil
	}
	db, sn, name, err := a.parts.Stores(c.Context)
	if err != nil {
		return nil, err
	}
	a.svc = &image.Service{
		DataRoot:           a.cfg.Root,
		DB:                 db,
		Snapshotter:        sn,
		SnapshotterName:    name,
		DefaultRegistry:    a.cfg.DefaultRegistry,
		InsecureRegistries: a.cfg.InsecureRegistries,
		Log:                a.log,
	}
	if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) && !c.Bool("quiet") {
		a.svc.Progress = f
	}
	a.parts.Images = a.svc
	return a.svc, nil
}

// engine opens, once per command, the engine over the image service
// (assemble.Parts.Engine; the NRI hooks come from nriHooks).
func (a *app) engine(c *cli.Context) (*engine.Engine, error) {
	if _, err := a.imageService(c); err != nil {
		return nil, err
	}
	return a.parts.Engine(c.Context)
}
