package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/version"
)

func formatFlag() cli.Flag {
	return &cli.StringFlag{Name: "format", Usage: "output format: table or json", Value: "table"}
}

func checkFormat(c *cli.Context) (bool, error) {
	switch f := c.String("format"); f {
	case "table", "":
		return false, nil
	case "json":
		return true, nil
	default:
		return false, fmt.Errorf("--format %q is not one of table, json", f)
	}
}

func (a *app) systemCommand() *cli.Command {
	return &cli.Command{
		Name:  "system",
		Usage: "information about and maintenance of stockade's own state",
		Subcommands: []*cli.Command{
			{
				Name:    "info",
				Aliases: []string{},
				Usage:   "print the version and the effective configuration",
				Flags:   []cli.Flag{formatFlag()},
				Action:  a.systemInfo,
			},
		},
	}
}

type systemInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	GoOS     string `json:"os"`
	GoArch   string `json:"arch"`
	GoVer    string `json:"go"`
	Config   any    `json:"config"`
	ConfFile string `json:"config_file"`
}

func (a *app) systemInfo(c *cli.Context) error {
	asJSON, err := checkFormat(c)
	if err != nil {
		return err
	}
	ver, commit := version.Get()
	info := systemInfo{
		Version: ver, Commit: commit, GoOS: runtime.GOOS, GoArch: runtime.GOARCH,
		GoVer: runtime.Version(), Config: a.cfg, ConfFile: c.String("config"),
	}
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	cfg := a.cfg
	rows := [][2]string{
		{"version", ver + " (" + commit + ")"},
		{"platform", runtime.GOOS + "/" + runtime.GOARCH},
		{"config file", info.ConfFile},
		{"root", cfg.Root},
		{"state", cfg.State},
		{"snapshotter", orDefault(cfg.Snapshotter, "(automatic)")},
		{"runtime", cfg.Runtime},
		{"decryption keys", cfg.DecryptionKeysPath},
		{"default registry", cfg.DefaultRegistry},
		{"insecure registries", strings.Join(cfg.InsecureRegistries, ", ")},
		{"zfs dataset", cfg.ZFS.Dataset},
		{"nri", fmt.Sprintf("enable=%t plugins=%s config=%s", cfg.NRI.Enable, cfg.NRI.PluginPath, cfg.NRI.ConfigFile)},
		{"log", cfg.LogLevel + ", " + cfg.LogFormat},
	}
	for _, r := range rows {
		fmt.Fprintf(a.stdout, "%-20s %s\n", r[0]+":", r[1])
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
