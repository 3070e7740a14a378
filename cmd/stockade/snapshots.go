package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/snapshot"
)

// snapshotCommands are the ZFS snapshots of container roots: what FreeBSD
// admins reach for before an upgrade inside a container.
func (a *app) snapshotCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:  "snapshot",
			Usage: "ZFS snapshots of a container's root file system (zfs snapshotter)",
			Subcommands: []*cli.Command{
				{Name: "create", Usage: "snapshot a container's root", ArgsUsage: "CONTAINER NAME", Action: a.snapshotCreate},
				{Name: "ls", Usage: "list a container's snapshots", ArgsUsage: "CONTAINER", Flags: []cli.Flag{formatFlag()}, Action: a.snapshotList},
				{Name: "rm", Usage: "destroy a snapshot", ArgsUsage: "CONTAINER NAME", Action: a.snapshotRemove},
			},
		},
		{
			Name: "rollback", Usage: "roll a stopped container's root back to a snapshot (later snapshots are destroyed)",
			ArgsUsage: "CONTAINER NAME", Action: a.rollback,
		},
	}
}

// zfsContainer resolves a container whose root is on a snapshotter that
// can snapshot roots (zfs).
func (a *app) zfsContainer(c *cli.Context, nargs int) (snapshot.RootSnapshotter, *engine.Container, error) {
	if err := args(c, nargs, nargs); err != nil {
		return nil, nil, err
	}
	e, err := a.engine(c)
	if err != nil {
		return nil, nil, err
	}
	z, ok := e.Snapshotter.(snapshot.RootSnapshotter)
	if !ok {
		return nil, nil, fmt.Errorf("%s: container snapshots need the zfs snapshotter (this is %s)", c.Command.FullName(), e.SnapshotterName)
	}
	ctr, err := e.Get(c.Context, c.Args().First())
	if err != nil {
		return nil, nil, err
	}
	return z, ctr, nil
}

func (a *app) snapshotCreate(c *cli.Context) error {
	z, ctr, err := a.zfsContainer(c, 2)
	if err != nil {
		return err
	}
	return z.Snapshot(c.Context, ctr.SnapshotKey, c.Args().Get(1))
}

func (a *app) snapshotRemove(c *cli.Context) error {
	z, ctr, err := a.zfsContainer(c, 2)
	if err != nil {
		return err
	}
	return z.RemoveSnapshot(c.Context, ctr.SnapshotKey, c.Args().Get(1))
}

func (a *app) snapshotList(c *cli.Context) error {
	asJSON, err := checkFormat(c)
	if err != nil {
		return err
	}
	z, ctr, err := a.zfsContainer(c, 1)
	if err != nil {
		return err
	}
	snaps, err := z.ListSnapshots(c.Context, ctr.SnapshotKey)
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
	z, ctr, err := a.zfsContainer(c, 2)
	if err != nil {
		return err
	}
	if ctr.State.Running() {
		return fmt.Errorf("rollback %s: the container is running: stop it first", ctr.Name)
	}
	return z.Rollback(c.Context, ctr.SnapshotKey, c.Args().Get(1))
}
