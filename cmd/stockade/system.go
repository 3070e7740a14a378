package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/snapshot"
	"github.com/stockade/stockade/version"
)

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
			{
				Name:  "check",
				Usage: "find and repair what interrupted commands left behind",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "only report"},
					formatFlag(),
				},
				Action: a.systemCheck,
			},
			{
				Name:   "df",
				Usage:  "space used by images and containers",
				Flags:  []cli.Flag{formatFlag()},
				Action: a.systemDF,
			},
			{
				Name:   "prune",
				Usage:  "remove stopped containers, unused networks and unused content",
				Action: a.systemPrune,
			},
			a.serviceCommand(),
		},
	}
}

type systemInfo struct {
	Version  string  `json:"version"`
	Commit   string  `json:"commit"`
	GoOS     string  `json:"os"`
	GoArch   string  `json:"arch"`
	GoVer    string  `json:"go"`
	Config   any     `json:"config"`
	ConfFile string  `json:"config_file"`
	NRI      nriInfo `json:"nri"`
}

func (a *app) systemInfo(c *cli.Context) error {
	asJSON, err := checkFormat(c)
	if err != nil {
		return err
	}
	ver, commit := version.Get()
	info := systemInfo{
		Version: ver, Commit: commit, GoOS: runtime.GOOS, GoArch: runtime.GOARCH,
		GoVer: runtime.Version(), Config: a.cfg, ConfFile: c.String("config"), NRI: a.nriInfo(c.Context),
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
		{"log", cfg.LogLevel + ", " + cfg.LogFormat},
	}
	rows = append(rows, info.NRI.rows(cfg.NRI)...)
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

func (a *app) systemCheck(c *cli.Context) error {
	asJSON, err := checkFormat(c)
	if err != nil {
		return err
	}
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	problems, err := e.Check(c.Context, !c.Bool("dry-run"))
	if err != nil {
		return err
	}
	// A snapshotter that keeps records of its own (zfs, in the pool's
	// properties) checks them itself.
	if ck, ok := e.Snapshotter.(snapshot.Checker); ok {
		sp, err := ck.CheckSnapshots(c.Context, !c.Bool("dry-run"))
		if err != nil {
			return err
		}
		for _, p := range sp {
			problems = append(problems, engine.Problem{What: p.What, Issue: p.Issue, Repaired: p.Repaired})
		}
	}
	if asJSON {
		if problems == nil {
			problems = []engine.Problem{}
		}
		return writeJSON(a.stdout, problems)
	}
	unrepaired := 0
	for _, p := range problems {
		state := "found"
		if p.Repaired {
			state = "repaired"
		} else {
			unrepaired++
		}
		if p.Error != "" {
			state = "repair failed: " + p.Error
		}
		fmt.Fprintf(a.stdout, "%s: %s (%s)\n", p.What, p.Issue, state)
	}
	if len(problems) == 0 {
		fmt.Fprintln(a.stdout, "no problems found")
	}
	if unrepaired > 0 && !c.Bool("dry-run") {
		return fmt.Errorf("system check: %d problems left unrepaired", unrepaired)
	}
	return nil
}

type dfRow struct {
	Type   string `json:"type"`
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Unique int64  `json:"unique"`
	Inodes int64  `json:"inodes"`
}

func (a *app) systemDF(c *cli.Context) error {
	asJSON, err := checkFormat(c)
	if err != nil {
		return err
	}
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	imgs, err := e.Images.List(c.Context)
	if err != nil {
		return err
	}
	users := map[string]int{}
	for _, img := range imgs {
		for _, ch := range img.ChainIDs {
			users[ch.String()]++
		}
	}
	var rows []dfRow
	for _, img := range imgs {
		row := dfRow{Type: "image", Name: img.Name, Size: img.Size}
		for _, ch := range img.ChainIDs {
			u, err := e.Snapshotter.Usage(c.Context, ch.String())
			if err != nil {
				continue
			}
			row.Inodes += u.Inodes
			if users[ch.String()] == 1 {
				row.Unique += u.Size
			}
		}
		rows = append(rows, row)
	}
	ctrs, err := e.List(c.Context)
	if err != nil {
		return err
	}
	for _, ctr := range ctrs {
		u, _ := e.Snapshotter.Usage(c.Context, ctr.SnapshotKey)
		rows = append(rows, dfRow{Type: "container", Name: ctr.Name, Size: u.Size, Unique: u.Size, Inodes: u.Inodes})
	}
	if asJSON {
		if rows == nil {
			rows = []dfRow{}
		}
		return writeJSON(a.stdout, rows)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tNAME\tSIZE\tUNIQUE ON DISK\tINODES")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", r.Type, r.Name, humanSize(r.Size), humanSize(r.Unique), r.Inodes)
	}
	return tw.Flush()
}

func (a *app) systemPrune(c *cli.Context) error {
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	ctrs, err := e.List(c.Context)
	if err != nil {
		return err
	}
	for _, ctr := range ctrs {
		if ctr.State.Status == engine.StatusExited || ctr.State.Status == engine.StatusCreated {
			if err := e.Remove(c.Context, ctr.ID, false); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "removed container %s\n", ctr.Name)
		}
	}
	if err := a.networkPrune(c); err != nil {
		return err
	}
	return e.Images.GC(c.Context)
}
