package main

import (
	"time"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/nri/v010"
)

// nriHooks returns the NRI hooks the configuration enables: current NRI,
// then NRI 0.1 (so 0.1 plugins see the spec current plugins adjusted).
func (a *app) nriHooks(e *engine.Engine) ([]engine.Hook, error) {
	var hs []engine.Hook
	if v := a.cfg.NRI.V010; v.Enable {
		client, err := v010.Load(v010.Config{
			PluginPath: v.PluginPath, ConfigFile: v.ConfigFile, ConfigDir: v.ConfigDir,
			Timeout: time.Duration(a.cfg.NRI.PluginRequestTimeout),
		})
		if err != nil {
			return nil, err
		}
		hs = append(hs, &v010.Hook{Client: client, GOOS: e.GOOS, State: e.Runtime.State, Log: a.log})
	}
	return hs, nil
}
