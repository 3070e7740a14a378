// Package copysnap is the portable fallback snapshotter, for file systems
// that have neither ZFS nor overlayfs: every active snapshot is a full copy
// of its parent's tree.
//
// Prepare copies the parent's tree into the new snapshot's directory with
// CopyTree (hard links, owners, modes, times, extended attributes,
// symbolic links, devices and holes kept), so it takes time and space in
// proportion to the parent's size. ApplyDir is that directory, and since
// it already shows the parent's files a layer diff's deletions are plain
// deletions (snapshot.WhiteoutDelete). Commit only records the snapshot:
// a committed snapshot is its directory, never written again. View copies
// nothing: it is a read-only bind mount (nullfs on FreeBSD) of the
// parent's directory.
//
// # Layout
//
// A Copy root holds, like the overlay snapshotter's:
//
//	metadata.db               the storage.Store: key -> id, kind, parent, labels
//	snapshots/<id>/fs         the snapshot's files
//	snapshots/<id>/base.json  the usage of the copy made by Prepare
//	snapshots/new-*, rm-*     directories being made or deleted
//
// # Usage
//
// An active snapshot's tree holds its parent's files as copies. Usage
// reports what the snapshot added on top of them: the usage of its tree
// minus that of the copy Prepare made (recorded in base.json), so that a
// child of a big layer uses nothing until it writes, as with the other
// snapshotters. The copies themselves do use disk space; `du` and `df` see
// it. Like du(1), Usage counts allocated blocks, so on file systems that
// allocate when they flush (ZFS counts a write's blocks when its
// transaction group is written, seconds later) fresh writes show up late;
// on ZFS, use the zfs snapshotter.
package copysnap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/stockade/stockade/snapshot"
	"github.com/stockade/stockade/snapshot/storage"
)

// baseFile names the file that records the usage of the copy made by
// Prepare, next to the snapshot's fs directory.
const baseFile = "base.json"

// bindType is the mount type of Mounts: FreeBSD's nullfs, or what Linux
// calls a bind mount.
var bindType = func() string {
	if runtime.GOOS == "freebsd" {
		return "nullfs"
	}
	return "bind"
}()

// Copy is the copying snapshotter. It implements snapshot.Snapshotter and
// snapshot.Cleaner on storage.Base, and is safe for concurrent use by
// several goroutines and by several processes sharing the same root.
type Copy struct {
	*storage.Base
}

var (
	_ snapshot.Snapshotter = (*Copy)(nil)
	_ snapshot.Cleaner     = (*Copy)(nil)
)

// New opens (creating it if needed) the copy snapshotter whose files live
// under root.
func New(root string) (*Copy, error) {
	c := &Copy{}
	var err error
	c.Base, err = storage.NewBase(context.Background(), root, storage.Backend{
		Name:      "copy",
		Mounts:    c.mounts,
		Whiteouts: snapshot.WhiteoutDelete,
		Fill:      c.fill,
		Usage:     c.ownUsage,
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// mounts returns the mounts of an active snapshot or view.
func (c *Copy) mounts(key string, s storage.Snapshot) ([]snapshot.Mount, error) {
	switch {
	case s.Kind == snapshot.KindActive:
		return []snapshot.Mount{{Type: bindType, Source: c.FSDir(s.ID), Options: []string{"rw"}}}, nil
	case s.Kind == snapshot.KindView && len(s.ParentIDs) == 0:
		return []snapshot.Mount{{Type: bindType, Source: c.FSDir(s.ID), Options: []string{"ro"}}}, nil
	case s.Kind == snapshot.KindView:
		return []snapshot.Mount{{Type: bindType, Source: c.FSDir(s.ParentIDs[0]), Options: []string{"ro"}}}, nil
	}
	return nil, fmt.Errorf("snapshot %q is %s: %w", key, s.Kind, snapshot.ErrNotActive)
}

// fill makes the staged directory of a new snapshot: for an active one, a
// copy of the parent's tree, and for every kind base.json, the usage of
// what Prepare put there. The copy is made before the snapshot is
// recorded, so a failed or interrupted copy leaves no snapshot (Cleanup
// deletes its directory). A View copies nothing: its mount is a read-only
// bind mount of the parent's directory.
func (c *Copy) fill(ctx context.Context, kind snapshot.Kind, key, parent, dir string) (func(storage.Snapshot) error, error) {
	// Fail early, before a long copy, on what the store would refuse.
	if _, err := c.Store().Stat(ctx, key); err == nil {
		return nil, snapshot.ErrExists
	} else if !errors.Is(err, snapshot.ErrNotFound) {
		return nil, err
	}
	var parentID uint64
	if parent != "" {
		p, err := c.Store().GetSnapshot(ctx, parent)
		if err != nil {
			return nil, fmt.Errorf("parent: %w", err)
		}
		if p.Kind != snapshot.KindCommitted {
			return nil, fmt.Errorf("parent %q is %s: %w", parent, p.Kind, snapshot.ErrNotCommitted)
		}
		parentID = p.ID
	}
	fs := filepath.Join(dir, "fs")
	if kind == snapshot.KindActive && parent != "" {
		if err := CopyTree(ctx, c.FSDir(parentID), fs); err != nil {
			return nil, fmt.Errorf("copy parent %q: %w", parent, err)
		}
	}
	base, err := storage.DiskUsage(ctx, fs)
	if err != nil {
		return nil, err
	}
	if err := writeBase(filepath.Join(dir, baseFile), base); err != nil {
		return nil, err
	}
	return func(s storage.Snapshot) error {
		if parent != "" && s.ParentIDs[0] != parentID {
			return fmt.Errorf("parent %q was replaced while it was being copied", parent)
		}
		return nil
	}, nil
}

func writeBase(path string, u snapshot.Usage) error {
	b, err := json.Marshal(u)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// ownUsage returns the usage of snapshot id's tree beyond the copy
// Prepare made: what Commit records and Usage reports.
func (c *Copy) ownUsage(ctx context.Context, id uint64) (snapshot.Usage, error) {
	u, err := storage.DiskUsage(ctx, c.FSDir(id))
	if err != nil {
		return snapshot.Usage{}, err
	}
	var base snapshot.Usage
	b, err := os.ReadFile(filepath.Join(c.Dirs().Path(id), baseFile))
	if err != nil {
		return snapshot.Usage{}, err
	}
	if err := json.Unmarshal(b, &base); err != nil {
		return snapshot.Usage{}, fmt.Errorf("%s: %w", baseFile, err)
	}
	u.Size = max(u.Size-base.Size, 0)
	u.Inodes = max(u.Inodes-base.Inodes, 0)
	return u, nil
}
