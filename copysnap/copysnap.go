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
// is safe for concurrent use by several goroutines and by several
// processes sharing the same root.
type Copy struct {
	root  string
	store *storage.Store
	dirs  *storage.Dirs
}

var _ snapshot.Snapshotter = (*Copy)(nil)

// New opens (creating it if needed) the copy snapshotter whose files live
// under root.
func New(root string) (*Copy, error) {
	if root == "" {
		return nil, errors.New("copy snapshotter: empty root")
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("copy snapshotter at %s: %w", root, err)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("copy snapshotter at %s: %w", root, err)
	}
	dirs, err := storage.NewDirs(filepath.Join(root, "snapshots"))
	if err != nil {
		return nil, fmt.Errorf("copy snapshotter at %s: %w", root, err)
	}
	store, err := storage.Open(context.Background(), filepath.Join(root, storage.FileName))
	if err != nil {
		return nil, fmt.Errorf("copy snapshotter at %s: %w", root, err)
	}
	return &Copy{root: root, store: store, dirs: dirs}, nil
}

// Root returns the snapshotter's root directory.
func (c *Copy) Root() string { return c.root }

// Store returns the snapshotter's metadata store.
func (c *Copy) Store() *storage.Store { return c.store }

func (c *Copy) fsDir(id uint64) string { return filepath.Join(c.dirs.Path(id), "fs") }

// mounts returns the mounts of an active snapshot or view.
func (c *Copy) mounts(key string, s storage.Snapshot) ([]snapshot.Mount, error) {
	switch {
	case s.Kind == snapshot.KindActive:
		return []snapshot.Mount{{Type: bindType, Source: c.fsDir(s.ID), Options: []string{"rw"}}}, nil
	case s.Kind == snapshot.KindView && len(s.ParentIDs) == 0:
		return []snapshot.Mount{{Type: bindType, Source: c.fsDir(s.ID), Options: []string{"ro"}}}, nil
	case s.Kind == snapshot.KindView:
		return []snapshot.Mount{{Type: bindType, Source: c.fsDir(s.ParentIDs[0]), Options: []string{"ro"}}}, nil
	}
	return nil, fmt.Errorf("snapshot %q is %s: %w", key, s.Kind, snapshot.ErrNotActive)
}

// Prepare creates an active snapshot holding a copy of the committed
// snapshot parent's tree ("" for an empty one) and returns a read-write
// bind mount of it. The copy is made before the snapshot is recorded, so a
// failed or interrupted copy leaves no snapshot (Cleanup deletes its
// directory).
func (c *Copy) Prepare(ctx context.Context, key, parent string, opts ...snapshot.Opt) ([]snapshot.Mount, error) {
	return c.create(ctx, snapshot.KindActive, key, parent, opts)
}

// View creates a read-only snapshot of parent without copying: its mount
// is a read-only bind mount of the parent's directory.
func (c *Copy) View(ctx context.Context, key, parent string, opts ...snapshot.Opt) ([]snapshot.Mount, error) {
	return c.create(ctx, snapshot.KindView, key, parent, opts)
}

func (c *Copy) create(ctx context.Context, kind snapshot.Kind, key, parent string, opts []snapshot.Opt) ([]snapshot.Mount, error) {
	if err := snapshot.ValidKey(key); err != nil {
		return nil, fmt.Errorf("copy: create %s snapshot: %w", kind, err)
	}
	// Fail early, before a long copy, on what the store would refuse.
	if _, err := c.store.Stat(ctx, key); err == nil {
		return nil, fmt.Errorf("copy: snapshot %q: %w", key, snapshot.ErrExists)
	} else if !errors.Is(err, snapshot.ErrNotFound) {
		return nil, fmt.Errorf("copy: %w", err)
	}
	var parentID uint64
	if parent != "" {
		if err := snapshot.ValidKey(parent); err != nil {
			return nil, fmt.Errorf("copy: snapshot %q: parent: %w", key, err)
		}
		p, err := c.store.GetSnapshot(ctx, parent)
		if err != nil {
			return nil, fmt.Errorf("copy: snapshot %q: parent: %w", key, err)
		}
		if p.Kind != snapshot.KindCommitted {
			return nil, fmt.Errorf("copy: snapshot %q: parent %q is %s: %w", key, parent, p.Kind, snapshot.ErrNotCommitted)
		}
		parentID = p.ID
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("copy: snapshot %q: %w", key, err)
	}
	st, err := c.dirs.Stage()
	if err != nil {
		return nil, fmt.Errorf("copy: snapshot %q: %w", key, err)
	}
	defer st.Close()
	fs := filepath.Join(st.Path(), "fs")
	if err := os.Mkdir(fs, 0o755); err != nil {
		return nil, fmt.Errorf("copy: snapshot %q: %w", key, err)
	}
	if kind == snapshot.KindActive && parent != "" {
		if err := CopyTree(ctx, c.fsDir(parentID), fs); err != nil {
			return nil, fmt.Errorf("copy: snapshot %q: copy parent %q: %w", key, parent, err)
		}
	}
	base, err := storage.DiskUsage(ctx, fs)
	if err != nil {
		return nil, fmt.Errorf("copy: snapshot %q: %w", key, err)
	}
	if err := writeBase(filepath.Join(st.Path(), baseFile), base); err != nil {
		return nil, fmt.Errorf("copy: snapshot %q: %w", key, err)
	}
	var mounts []snapshot.Mount
	_, err = c.store.Create(ctx, kind, key, parent, opts, func(s storage.Snapshot) error {
		if parent != "" && s.ParentIDs[0] != parentID {
			return fmt.Errorf("parent %q was replaced while it was being copied", parent)
		}
		m, err := c.mounts(key, s)
		if err != nil {
			return err
		}
		if err := st.Install(s.ID); err != nil {
			return err
		}
		mounts = m
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	return mounts, nil
}

func writeBase(path string, u snapshot.Usage) error {
	b, err := json.Marshal(u)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// ownUsage returns the usage of snapshot id's tree beyond the copy
// Prepare made.
func (c *Copy) ownUsage(ctx context.Context, id uint64) (snapshot.Usage, error) {
	u, err := storage.DiskUsage(ctx, c.fsDir(id))
	if err != nil {
		return snapshot.Usage{}, err
	}
	var base snapshot.Usage
	b, err := os.ReadFile(filepath.Join(c.dirs.Path(id), baseFile))
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

// Commit turns the active snapshot key into the committed snapshot name,
// keeping its directory, and records its usage.
func (c *Copy) Commit(ctx context.Context, name, key string, opts ...snapshot.Opt) error {
	return c.store.CommitActive(ctx, "copy", name, key, func(s storage.Snapshot) (snapshot.Usage, error) {
		return c.ownUsage(ctx, s.ID)
	}, opts...)
}

// Mounts returns the mounts of the active snapshot or view key.
func (c *Copy) Mounts(ctx context.Context, key string) ([]snapshot.Mount, error) {
	return c.store.MountsOf(ctx, "copy", key, c.mounts)
}

// Remove deletes the snapshot key: first its record, then its directory.
// It fails with an error wrapping snapshot.ErrHasChildren while another
// snapshot has key as parent. If the directory cannot be deleted the record
// is gone all the same, and Cleanup deletes the directory later.
func (c *Copy) Remove(ctx context.Context, key string) error {
	_, err := storage.RemoveSnapshot(ctx, c.store, c.dirs, "copy", key)
	return err
}

// Stat returns the Info of the snapshot key.
func (c *Copy) Stat(ctx context.Context, key string) (snapshot.Info, error) {
	return c.store.StatInfo(ctx, "copy", key)
}

// Walk calls fn for every snapshot, in key order.
func (c *Copy) Walk(ctx context.Context, fn func(context.Context, snapshot.Info) error) error {
	return c.store.WalkInfo(ctx, fn)
}

// Usage returns the space the snapshot key added on top of the copy of
// its parent: the usage recorded at commit for a committed snapshot, or a
// walk of its directory for an active one (zero for a view).
func (c *Copy) Usage(ctx context.Context, key string) (snapshot.Usage, error) {
	rec, err := c.store.Stat(ctx, key)
	if err != nil {
		return snapshot.Usage{}, fmt.Errorf("copy: usage: %w", err)
	}
	if rec.Kind == snapshot.KindCommitted {
		return rec.Usage, nil
	}
	u, err := c.ownUsage(ctx, rec.ID)
	if err != nil {
		return snapshot.Usage{}, fmt.Errorf("copy: usage of snapshot %q: %w", key, err)
	}
	return u, nil
}

// ApplyDir returns the directory of the active snapshot key. It holds a
// copy of the parent's files, so deletions are plain deletions.
func (c *Copy) ApplyDir(ctx context.Context, key string) (string, snapshot.WhiteoutFormat, error) {
	s, err := c.store.GetSnapshot(ctx, key)
	if err != nil {
		return "", 0, fmt.Errorf("copy: apply dir: %w", err)
	}
	if s.Kind != snapshot.KindActive {
		return "", 0, fmt.Errorf("copy: apply dir of snapshot %q: it is %s: %w", key, s.Kind, snapshot.ErrNotActive)
	}
	return c.fsDir(s.ID), snapshot.WhiteoutDelete, nil
}

// Cleanup deletes the directories that belong to no snapshot: those left
// by a crash during Prepare, View or Remove. It is safe to run while other
// processes use the snapshotter.
func (c *Copy) Cleanup(ctx context.Context) error {
	if err := c.dirs.Cleanup(ctx, c.store); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	return nil
}

// Close releases the snapshotter. It holds no open files between calls, so
// Close only exists to satisfy snapshot.Snapshotter; it may be called more
// than once.
func (c *Copy) Close() error { return nil }
