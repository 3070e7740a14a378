package zfs

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/stockade/stockade/snapshot"
)

// groupVolumes holds named volumes: P/volumes/<name>, one dataset each,
// mounted at <root>/volumes/<name>. The snapshotter's own check ignores
// the group: its datasets carry no "stockade:" property.
const groupVolumes = "volumes"

// PropVolume names the volume a dataset holds. It is in a module of its
// own ("stockade.volume:"), so that the snapshotter's check, which owns
// the "stockade:" properties, never takes a volume for one of its
// snapshots.
const PropVolume = "stockade.volume:name"

// Volumes makes named volumes as datasets of their own under the
// snapshotter's parent dataset, so that `zfs snapshot` and quotas work on
// them as on container roots.
type Volumes struct {
	dataset string // P/volumes
	root    string // <root>/volumes
}

// Volumes returns the volume datasets of the snapshotter's parent dataset.
func (z *Snapshotter) Volumes() *Volumes {
	return &Volumes{dataset: z.group(groupVolumes), root: filepath.Join(z.root, groupVolumes)}
}

// Dataset returns the dataset of the volume name.
func (v *Volumes) Dataset(name string) string { return v.dataset + "/" + name }

// Mountpoint returns where the volume name is mounted.
func (v *Volumes) Mountpoint(name string) string { return filepath.Join(v.root, name) }

// createArgs returns the zfs commands that make the volume name with a
// quota of quota bytes (0: none), the group first when it is missing.
func (v *Volumes) createArgs(name string, quota uint64, haveGroup bool) [][]string {
	var cmds [][]string
	if !haveGroup {
		cmds = append(cmds, []string{"create", "-o", "canmount=off", "-o", "mountpoint=" + v.root, v.dataset})
	}
	c := []string{"create", "-o", PropVolume + "=" + name}
	if quota > 0 {
		c = append(c, "-o", "quota="+strconv.FormatUint(quota, 10))
	}
	return append(cmds, append(c, v.Dataset(name)))
}

// Create makes the dataset of the volume name, mounted, with a quota of
// quota bytes when quota is not 0, and returns its mountpoint.
func (v *Volumes) Create(ctx context.Context, name string, quota uint64) (string, error) {
	if err := snapshot.ValidKey(name); err != nil {
		return "", fmt.Errorf("zfs: volume %q: %w", name, err)
	}
	st, err := getProps(ctx, false, v.dataset)
	if err != nil {
		return "", fmt.Errorf("zfs: volume %s: %w", name, err)
	}
	for _, args := range v.createArgs(name, quota, st[v.dataset] != nil) {
		if _, err := zfsRun(ctx, args...); err != nil && !(isExists(err) && args[len(args)-1] == v.dataset) {
			return "", fmt.Errorf("zfs: volume %s: %w", name, err)
		}
	}
	return v.Mountpoint(name), nil
}

// Remove destroys the dataset of the volume name and its snapshots; a
// volume that does not exist is not an error.
func (v *Volumes) Remove(ctx context.Context, name string) error {
	if _, err := zfsRun(ctx, "destroy", "-r", v.Dataset(name)); err != nil && !isNotExist(err) {
		return fmt.Errorf("zfs: remove volume %s: %w", name, err)
	}
	return nil
}

// Exists reports whether the volume's dataset exists.
func (v *Volumes) Exists(ctx context.Context, name string) (bool, error) {
	st, err := getProps(ctx, false, v.Dataset(name))
	if err != nil {
		return false, fmt.Errorf("zfs: volume %s: %w", name, err)
	}
	return st[v.Dataset(name)] != nil, nil
}

// Snapshot takes the ZFS snapshot <dataset>@snap of the volume name.
func (v *Volumes) Snapshot(ctx context.Context, name, snap string) error {
	if err := snapshot.ValidKey(snap); err != nil {
		return fmt.Errorf("zfs: snapshot of volume %s: %w", name, err)
	}
	if _, err := zfsRun(ctx, "snapshot", v.Dataset(name)+"@"+snap); err != nil {
		if isExists(err) {
			return fmt.Errorf("zfs: snapshot %s of volume %s: %w", snap, name, snapshot.ErrExists)
		}
		return fmt.Errorf("zfs: snapshot of volume %s: %w", name, err)
	}
	return nil
}

var _ snapshot.RootSnapshotter = (*Volumes)(nil)

// Rollback returns the volume name to its ZFS snapshot snap, destroying
// the snapshots taken after it (zfs rollback -r). It fails with an error
// wrapping snapshot.ErrNotFound when there is no such snapshot.
func (v *Volumes) Rollback(ctx context.Context, name, snap string) error {
	if err := snapshot.ValidKey(snap); err != nil {
		return fmt.Errorf("zfs: rollback of volume %s: %w", name, err)
	}
	if _, err := zfsRun(ctx, "rollback", "-r", v.Dataset(name)+"@"+snap); err != nil {
		if isNotExist(err) {
			return fmt.Errorf("zfs: rollback of volume %s to %s: %w", name, snap, snapshot.ErrNotFound)
		}
		return fmt.Errorf("zfs: rollback of volume %s to %s: %w", name, snap, err)
	}
	return nil
}

// RemoveSnapshot destroys the ZFS snapshot snap of the volume name.
func (v *Volumes) RemoveSnapshot(ctx context.Context, name, snap string) error {
	if err := snapshot.ValidKey(snap); err != nil {
		return fmt.Errorf("zfs: remove snapshot of volume %s: %w", name, err)
	}
	if _, err := zfsRun(ctx, "destroy", v.Dataset(name)+"@"+snap); err != nil {
		if isNotExist(err) {
			return fmt.Errorf("zfs: remove snapshot %s of volume %s: %w", snap, name, snapshot.ErrNotFound)
		}
		return fmt.Errorf("zfs: remove snapshot %s of volume %s: %w", snap, name, err)
	}
	return nil
}

// ListSnapshots returns the ZFS snapshots of the volume name, oldest
// first.
func (v *Volumes) ListSnapshots(ctx context.Context, name string) ([]snapshot.RootSnapshot, error) {
	if err := snapshot.ValidKey(name); err != nil {
		return nil, fmt.Errorf("zfs: volume %q: %w", name, err)
	}
	out, err := zfsRun(ctx, "list", "-Hp", "-t", "snapshot", "-d", "1", "-s", "createtxg",
		"-o", "name,creation,used,referenced", v.Dataset(name))
	if err != nil {
		if isNotExist(err) {
			return nil, fmt.Errorf("zfs: volume %s: %w", name, snapshot.ErrNotFound)
		}
		return nil, fmt.Errorf("zfs: list snapshots of volume %s: %w", name, err)
	}
	snaps, err := parseSnapshotList(out)
	if err != nil {
		return nil, fmt.Errorf("zfs: list snapshots of volume %s: %w", name, err)
	}
	return snaps, nil
}
