package zfs

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	gozfs "github.com/mistifyio/go-zfs/v3"

	"github.com/stockade/stockade/snapshot"
)

// SnapshotInfo describes one ZFS snapshot of a container root; Dataset is
// the snapshot's full ZFS name, <dataset>@<name>.
type SnapshotInfo = snapshot.RootSnapshot

// DatasetOf returns the dataset that holds the snapshot key's files.
func (z *Snapshotter) DatasetOf(ctx context.Context, key string) (string, error) {
	f, err := z.lookup(ctx, key)
	if err != nil {
		return "", fmt.Errorf("zfs: %w", err)
	}
	return f.dataset, nil
}

// activeDataset looks up key, which must be an active snapshot, and
// checks that name can name one of its ZFS snapshots.
func (z *Snapshotter) activeDataset(ctx context.Context, what, key, name string) (string, error) {
	f, err := z.lookup(ctx, key)
	if err != nil {
		return "", fmt.Errorf("zfs: %s: %w", what, err)
	}
	if f.rec.Kind != snapshot.KindActive {
		return "", fmt.Errorf("zfs: %s of snapshot %q: it is %s: %w", what, key, f.rec.Kind, snapshot.ErrNotActive)
	}
	if name == "" && what == "list snapshots" {
		return f.dataset, nil
	}
	if err := snapshot.ValidKey(name); err != nil {
		return "", fmt.Errorf("zfs: %s of snapshot %q: name: %w", what, key, err)
	}
	if name == layerSnap {
		return "", fmt.Errorf("zfs: %s of snapshot %q: name %q is reserved for commits: %w", what, key, name, snapshot.ErrInvalidKey)
	}
	if n := len(f.dataset) + 1 + len(name); n > maxNameLen {
		return "", fmt.Errorf("zfs: %s of snapshot %q: %s@%s would be %d bytes, over ZFS's %d: %w", what, key, f.dataset, name, n, maxNameLen, snapshot.ErrInvalidKey)
	}
	return f.dataset, nil
}

// Snapshot takes a ZFS snapshot called name of the active snapshot key (a
// container root), in constant time. It fails with an error wrapping
// snapshot.ErrExists if key already has a snapshot of that name.
func (z *Snapshotter) Snapshot(ctx context.Context, key, name string) error {
	unlock, err := z.lock(ctx)
	if err != nil {
		return fmt.Errorf("zfs: snapshot %q: %w", key, err)
	}
	defer unlock()
	ds, err := z.activeDataset(ctx, "snapshot", key, name)
	if err != nil {
		return err
	}
	if _, err := (&gozfs.Dataset{Name: ds, Type: gozfs.DatasetFilesystem}).Snapshot(name, false); err != nil {
		if isExists(err) {
			return fmt.Errorf("zfs: snapshot %q: %s@%s: %w", key, ds, name, snapshot.ErrExists)
		}
		return fmt.Errorf("zfs: snapshot %q as %s@%s: %w", key, ds, name, err)
	}
	return nil
}

// Rollback returns the active snapshot key to its ZFS snapshot name,
// destroying the snapshots taken after it (zfs rollback -r). Files open in
// the container see the old content. It fails with an error wrapping
// snapshot.ErrNotFound when there is no such snapshot.
func (z *Snapshotter) Rollback(ctx context.Context, key, name string) error {
	unlock, err := z.lock(ctx)
	if err != nil {
		return fmt.Errorf("zfs: rollback %q: %w", key, err)
	}
	defer unlock()
	ds, err := z.activeDataset(ctx, "rollback", key, name)
	if err != nil {
		return err
	}
	if err := (&gozfs.Dataset{Name: ds + "@" + name, Type: gozfs.DatasetSnapshot}).Rollback(true); err != nil {
		if isNotExist(err) {
			return fmt.Errorf("zfs: rollback %q: %s@%s: %w", key, ds, name, snapshot.ErrNotFound)
		}
		return fmt.Errorf("zfs: rollback %q to %s@%s: %w", key, ds, name, err)
	}
	return nil
}

// RemoveSnapshot destroys the ZFS snapshot name of the active snapshot
// key.
func (z *Snapshotter) RemoveSnapshot(ctx context.Context, key, name string) error {
	unlock, err := z.lock(ctx)
	if err != nil {
		return fmt.Errorf("zfs: remove snapshot %q of %q: %w", name, key, err)
	}
	defer unlock()
	ds, err := z.activeDataset(ctx, "remove snapshot", key, name)
	if err != nil {
		return err
	}
	if err := (&gozfs.Dataset{Name: ds + "@" + name, Type: gozfs.DatasetSnapshot}).Destroy(gozfs.DestroyDefault); err != nil {
		if isNotExist(err) {
			return fmt.Errorf("zfs: remove snapshot %s@%s of %q: %w", ds, name, key, snapshot.ErrNotFound)
		}
		return fmt.Errorf("zfs: remove snapshot %s@%s of %q: %w", ds, name, key, err)
	}
	return nil
}

// ListSnapshots returns the ZFS snapshots of the active snapshot key,
// oldest first.
func (z *Snapshotter) ListSnapshots(ctx context.Context, key string) ([]SnapshotInfo, error) {
	ds, err := z.activeDataset(ctx, "list snapshots", key, "")
	if err != nil {
		return nil, err
	}
	out, err := zfsRun(ctx, "list", "-Hp", "-t", "snapshot", "-d", "1", "-s", "createtxg",
		"-o", "name,creation,used,referenced", ds)
	if err != nil {
		return nil, fmt.Errorf("zfs: list snapshots of %q (%s): %w", key, ds, err)
	}
	snaps, err := parseSnapshotList(out)
	if err != nil {
		return nil, fmt.Errorf("zfs: list snapshots of %q (%s): %w", key, ds, err)
	}
	return snaps, nil
}

// parseSnapshotList parses `zfs list -Hp -o name,creation,used,referenced`
// of snapshots, leaving out the @layer snapshot of an interrupted commit.
func parseSnapshotList(out string) ([]SnapshotInfo, error) {
	snaps := []SnapshotInfo{}
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			return nil, fmt.Errorf("cannot parse %q", line)
		}
		_, name, ok := strings.Cut(f[0], "@")
		if !ok {
			return nil, fmt.Errorf("%q is not a snapshot", f[0])
		}
		if name == layerSnap {
			continue
		}
		var n [3]uint64
		for i, s := range f[1:] {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("cannot parse %q: %w", line, err)
			}
			n[i] = v
		}
		snaps = append(snaps, SnapshotInfo{Name: name, Dataset: f[0], Created: time.Unix(int64(n[0]), 0).UTC(), Used: n[1], Referenced: n[2]})
	}
	return snaps, nil
}
