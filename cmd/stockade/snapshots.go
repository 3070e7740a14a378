package main

import (
	"fmt"
	"slices"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/snapshot"
	"github.com/stockade/stockade/zfs"
)

// snapshotCommands are the ZFS snapshots of container roots and of
// volumes: what FreeBSD admins reach for before an upgrade inside a
// container.
func (a *app) snapshotCommands() []*cli.Command {
	volumeFlag := func() cli.Flag {
		return &cli.BoolFlag{Name: "volume", Usage: "the first argument names a volume (a zfs dataset of its own), not a container"}
	}
	return []*cli.Command{
		{
			Name:  "snapshot",
			Usage: "ZFS snapshots of a container's root file system or of a volume (zfs snapshotter)",
			Subcommands: []*cli.Command{
				{Name: "create", Usage: "snapshot a container's root or a volume", ArgsUsage: "CONTAINER|VOLUME NAME", Flags: []cli.Flag{volumeFlag()}, Action: a.snapshotCreate},
				{Name: "ls", Usage: "list the snapshots of a container or a volume", ArgsUsage: "CONTAINER|VOLUME", Flags: []cli.Flag{formatFlag(), volumeFlag()}, Action: a.snapshotList},
				{Name: "rm", Usage: "destroy a snapshot", ArgsUsage: "CONTAINER|VOLUME NAME", Flags: []cli.Flag{volumeFlag()}, Action: a.snapshotRemove},
			},
		},
		{
			Name: "rollback", Usage: "roll a stopped container's root, or a volume no running container uses, back to a snapshot (later snapshots are destroyed)",
			ArgsUsage: "CONTAINER|VOLUME NAME", Flags: []cli.Flag{volumeFlag()}, Action: a.rollback,
		},
	}
}

// snapshotTarget is what a snapshot command acts on: a container's root
// or, with --volume, a volume's dataset.
type snapshotTarget struct {
	z   snapshot.RootSnapshotter
	key string
	// what names it in messages; running says whether a running container
	// uses it (rollback refuses then).
	what    string
	running bool
}

// zfsTarget resolves the first argument: a container whose root is on a
// snapshotter that can snapshot roots (zfs), or with --volume a volume of
// the zfs volume driver.
func (a *app) zfsTarget(c *cli.Context, nargs int) (*snapshotTarget, error) {
	if err := args(c, nargs, nargs); err != nil {
		return nil, err
	}
	e, err := a.engine(c)
	if err != nil {
		return nil, err
	}
	if c.Bool("volume") {
		return a.zfsVolume(c, e)
	}
	z, ok := e.Snapshotter.(snapshot.RootSnapshotter)
	if !ok {
		return nil, fmt.Errorf("%s: container snapshots need the zfs snapshotter (this is %s)", c.Command.FullName(), e.SnapshotterName)
	}
	ctr, err := e.Get(c.Context, c.Args().First())
	if err != nil {
		return nil, err
	}
	return &snapshotTarget{z: z, key: ctr.SnapshotKey, what: "container " + ctr.Name, running: ctr.State.Running()}, nil
}

// zfsVolume resolves --volume's first argument: a volume made by the zfs
// driver, and whether a running container uses it.
func (a *app) zfsVolume(c *cli.Context, e *engine.Engine) (*snapshotTarget, error) {
	name := c.Args().First()
	zs, ok := e.Snapshotter.(interface{ Volumes() *zfs.Volumes })
	if !ok {
		return nil, fmt.Errorf("%s --volume %s: volume snapshots need the zfs snapshotter (this is %s)", c.Command.FullName(), name, e.SnapshotterName)
	}
	store := a.parts.VolumeStore(e.DB, e.Snapshotter)
	v, err := store.Get(c.Context, name)
	if err != nil {
		return nil, fmt.Errorf("%s --volume %s: %w", c.Command.FullName(), name, err)
	}
	if v.Driver != "zfs" {
		return nil, fmt.Errorf("%s --volume %s: the volume is a directory (driver %s), not a zfs dataset", c.Command.FullName(), name, v.Driver)
	}
	t := &snapshotTarget{z: zs.Volumes(), key: name, what: "volume " + name}
	users, err := store.Users(c.Context)
	if err != nil {
		return nil, err
	}
	all, err := e.List(c.Context)
	if err != nil {
		return nil, err
	}
	for _, ctr := range all {
		if ctr.State.Running() && slices.Contains(users[name], ctr.Name) {
			t.running = true
		}
	}
	return t, nil
}

func (a *app) snapshotCreate(c *cli.Context) error {
	t, err := a.zfsTarget(c, 2)
	if err != nil {
		return err
	}
	return t.z.Snapshot(c.Context, t.key, c.Args().Get(1))
}

func (a *app) snapshotRemove(c *cli.Context) error {
	t, err := a.zfsTarget(c, 2)
	if err != nil {
		return err
	}
	return t.z.RemoveSnapshot(c.Context, t.key, c.Args().Get(1))
}

func (a *app) snapshotList(c *cli.Context) error {
	asJSON, err := checkFormat(c)
	if err != nil {
		return err
	}
	t, err := a.zfsTarget(c, 1)
	if err != nil {
		return err
	}
	snaps, err := t.z.ListSnapshots(c.Context, t.key)
	if err != nil {
		return err
	}
	if asJSON {
		if snaps == nil {
			snaps = []snapshot.RootSnapshot{}
		}
		return writeJSON(a.stdout, snaps)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCREATED\tUSED\tREFERENCED\tDATASET")
	for _, s := range snaps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, since(s.Created), humanSize(int64(s.Used)), humanSize(int64(s.Referenced)), s.Dataset)
	}
	return tw.Flush()
}

func (a *app) rollback(c *cli.Context) error {
	t, err := a.zfsTarget(c, 2)
	if err != nil {
		return err
	}
	if t.running {
		return fmt.Errorf("rollback %s: a running container uses it: stop it first", t.what)
	}
	return t.z.Rollback(c.Context, t.key, c.Args().Get(1))
}
