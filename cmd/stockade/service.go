package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/config"
)

func (a *app) serviceCommand() *cli.Command {
	return &cli.Command{
		Name:  "service",
		Usage: "host the NRI socket for external plugins until SIGTERM (foreground, logs to stderr)",
		Action: arity(0, 0, func(c *cli.Context) error {
			return a.service(c)
		}),
	}
}

// nriInfo is what `system info` says of NRI.
type nriInfo struct {
	// Enable is [nri] enable; Service whether `system service` runs.
	Enable  bool `json:"enable"`
	Service bool `json:"service"`
	// Plugins are the current plugins: those registered with the service
	// when it runs, else the pre-installed ones each command starts.
	Plugins []string `json:"plugins"`
	// V010Enable is [nri.v010] enable; V010Plugins its plugin types, in
	// invocation order.
	V010Enable  bool     `json:"v010_enable"`
	V010Plugins []string `json:"v010_plugins"`
	// Error is why a list could not be read.
	Error string `json:"error,omitempty"`
}

// rows are the NRI lines of `system info`.
func (i nriInfo) rows(cfg config.NRI) [][2]string {
	cur := fmt.Sprintf("enable=%t socket=%s service=%s", i.Enable, cfg.SocketPath, map[bool]string{true: "running", false: "not running"}[i.Service])
	v010 := fmt.Sprintf("enable=%t config=%s", i.V010Enable, cfg.V010.ConfigFile)
	rows := [][2]string{
		{"nri", cur},
		{"nri plugins", orDefault(strings.Join(i.Plugins, ", "), "none")},
		{"nri 0.1", v010},
		{"nri 0.1 plugins", orDefault(strings.Join(i.V010Plugins, ", "), "none")},
	}
	if i.Error != "" {
		rows = append(rows, [2]string{"nri error", i.Error})
	}
	return rows
}
