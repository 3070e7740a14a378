package main

import (
	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/engine"
)

// hooks returns the engine's lifecycle hooks in the order they run: the
// network first, so that NRI plugins see a container with its network,
// then NRI (current, then 0.1). Each subsystem appends its hook here.
func (a *app) hooks(c *cli.Context, e *engine.Engine) ([]engine.Hook, error) {
	net, err := a.networkHook(c, e)
	if err != nil {
		return nil, err
	}
	hs := []engine.Hook{net, a.volumeHook(e)} // volume.go
	nri, err := a.nriHooks(e)
	if err != nil {
		return nil, err
	}
	hs = append(hs, nri...)
	return hs, nil
}
