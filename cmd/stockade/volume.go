package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/bundle"
	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/volume"
)

// volumeCommands are `volume create|ls|inspect|rm|prune`, `cp` (cp.go)
// and `stats` (stats.go).
func (a *app) volumeCommands() []*cli.Command {
	return []*cli.Command{a.cpCommand(), a.statsCommand(), {
		Name:  "volume",
		Usage: "manage named volumes",
		Subcommands: []*cli.Command{
			{
				Name: "create", Usage: "create a volume (a ZFS dataset on the zfs snapshotter, else a directory under the data root)",
				ArgsUsage: "NAME",
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "opt", Aliases: []string{"o"}, Usage: "driver option size=SIZE (a quota, zfs driver) (repeatable)"},
					&cli.StringSliceFlag{Name: "label", Usage: "a label KEY=VALUE (repeatable)"},
				},
				Action: arity(1, 1, a.volumeCreate),
			},
			{
				Name: "ls", Aliases: []string{"list"}, Usage: "list volumes",
				Flags:  []cli.Flag{formatFlag(), &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "names only"}},
				Action: arity(0, 0, a.volumeList),
			},
			{
				Name: "inspect", Usage: "print volumes and their containers as JSON", ArgsUsage: "NAME...",
				Action: arity(1, -1, a.volumeInspect),
			},
			{
				Name: "rm", Aliases: []string{"remove"}, Usage: "remove volumes no container uses", ArgsUsage: "NAME...",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "no error for a volume that does not exist"}},
				Action: arity(1, -1, a.volumeRemove),
			},
			{
				Name: "prune", Usage: "remove every volume no container uses",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask for confirmation"}},
				Action: arity(0, 0, a.volumePrune),
			},
		},
	}}
}

// volumeStore opens the volume store of a command: the zfs driver on the
// zfs snapshotter (a dataset per volume under its parent dataset), the
// local driver (<root>/volumes/NAME/_data) elsewhere.
func (a *app) volumeStore(c *cli.Context) (*volume.Store, error) {
	svc, err := a.imageService(c)
	if err != nil {
		return nil, err
	}
	return a.parts.VolumeStore(svc.DB, svc.Snapshotter), nil
}

// volumeHook is the engine's volume hook (as assemble.Parts.Engine makes
// it).
func (a *app) volumeHook(e *engine.Engine) *volume.Manager {
	return &volume.Manager{Store: a.parts.VolumeStore(e.DB, e.Snapshotter), GOOS: e.GOOS, Log: a.log}
}

// volumeRequest splits run's -v values into bind mounts for the bundle
// and the volume hook's request, which it adds to exts; the image's
// VOLUME paths get anonymous volumes.
func volumeRequest(ctx context.Context, c *cli.Context, svc *image.Service, img *image.Record, exts map[string]json.RawMessage) ([]string, error) {
	cfg, err := svc.Config(ctx, img)
	if err != nil {
		return nil, err
	}
	var tmpfs []string
	for _, t := range c.StringSlice("tmpfs") {
		if p, err := bundle.ParseTmpfs(t); err == nil {
			tmpfs = append(tmpfs, p.Destination)
		}
	}
	binds, ext, err := volume.Request(c.StringSlice("volume"), tmpfs, slices.Collect(maps.Keys(cfg.Config.Volumes)))
	if err != nil || ext == nil {
		return binds, err
	}
	raw, err := json.Marshal(ext)
	if err != nil {
		return nil, err
	}
	exts[volume.HookName] = raw
	return binds, nil
}

func (a *app) volumeCreate(c *cli.Context) error {
	s, err := a.volumeStore(c)
	if err != nil {
		return err
	}
	opts, err := volume.ParseOptions(c.StringSlice("opt"))
	if err != nil {
		return err
	}
	labels, err := volume.ParseLabels(c.StringSlice("label"))
	if err != nil {
		return err
	}
	v, err := s.Create(c.Context, c.Args().First(), volume.CreateOptions{Options: opts, Labels: labels})
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, v.Name)
	return nil
}

// volumeEntry is a volume as ls and inspect print it.
type volumeEntry struct {
	*volume.Volume
	// Scope is "local", as docker says of a volume of one host.
	Scope string `json:"scope"`
	// Containers are the names of the containers that use it.
	Containers []string `json:"containers"`
}

func (a *app) volumeEntries(c *cli.Context, s *volume.Store, names []string) ([]volumeEntry, error) {
	var vols []*volume.Volume
	if names == nil {
		var err error
		if vols, err = s.List(c.Context); err != nil {
			return nil, err
		}
	} else {
		var errs []error
		for _, n := range names {
			v, err := s.Get(c.Context, n)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			vols = append(vols, v)
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
	}
	users, err := s.Users(c.Context)
	if err != nil {
		return nil, err
	}
	out := []volumeEntry{}
	for _, v := range vols {
		u := slices.Clone(users[v.Name])
		slices.Sort(u)
		if u == nil {
			u = []string{}
		}
		out = append(out, volumeEntry{Volume: v, Scope: "local", Containers: u})
	}
	return out, nil
}

func (a *app) volumeList(c *cli.Context) error {
	asJSON, err := checkFormat(c)
	if err != nil {
		return err
	}
	s, err := a.volumeStore(c)
	if err != nil {
		return err
	}
	entries, err := a.volumeEntries(c, s, nil)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(a.stdout, entries)
	}
	if c.Bool("quiet") {
		for _, v := range entries {
			fmt.Fprintln(a.stdout, v.Name)
		}
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "DRIVER\tVOLUME NAME\tCREATED\tCONTAINERS")
	for _, v := range entries {
		users := strings.Join(v.Containers, ",")
		if users == "" {
			users = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Driver, v.Name, ago(time.Now(), v.CreatedAt), users)
	}
	return tw.Flush()
}

func (a *app) volumeInspect(c *cli.Context) error {
	s, err := a.volumeStore(c)
	if err != nil {
		return err
	}
	entries, err := a.volumeEntries(c, s, c.Args().Slice())
	if err != nil {
		return err
	}
	return writeJSON(a.stdout, entries)
}

func (a *app) volumeRemove(c *cli.Context) error {
	s, err := a.volumeStore(c)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range c.Args().Slice() {
		if err := s.Remove(c.Context, name, ""); err != nil {
			if c.Bool("force") && errors.Is(err, volume.ErrNotFound) {
				continue
			}
			errs = append(errs, fmt.Errorf("volume rm: %w", err))
			continue
		}
		fmt.Fprintln(a.stdout, name)
	}
	return errors.Join(errs...)
}

// volumePruneWarning is what volume prune asks, in docker's words.
const volumePruneWarning = "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] "

func (a *app) volumePrune(c *cli.Context) error {
	if !c.Bool("force") {
		ok, err := a.confirm(volumePruneWarning)
		if err != nil {
			return fmt.Errorf("volume prune: %w", err)
		}
		if !ok {
			return errors.New("volume prune: cancelled, nothing removed")
		}
	}
	s, err := a.volumeStore(c)
	if err != nil {
		return err
	}
	removed, err := s.Prune(c.Context)
	for _, n := range removed {
		fmt.Fprintf(a.stdout, "removed volume %s\n", n)
	}
	return err
}

// removeContainer is rm of one container; with -v it also removes the
// container's anonymous volumes (named volumes stay, as docker's).
func (a *app) removeContainer(c *cli.Context, e *engine.Engine, ref string) error {
	if !c.Bool("volumes") {
		return e.Remove(c.Context, ref, c.Bool("force"))
	}
	ctr, err := e.Get(c.Context, ref)
	if err != nil {
		return err
	}
	if err := e.Remove(c.Context, ctr.ID, c.Bool("force")); err != nil {
		return err
	}
	return a.volumeHook(e).RemoveAnonymous(c.Context, ctr)
}
