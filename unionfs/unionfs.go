// Package unionfs is the FreeBSD unionfs snapshotter: a layer is a
// directory, and a snapshot is shown by stacking its parents' directories
// read-only with unionfs(5) under a writable upper directory (see
// MountPlan).
//
// # Whiteouts: how layer diffs are applied
//
// FreeBSD unionfs records a deletion as a whiteout in the upper layer's
// file system (a directory entry of type DT_WHT, made by VOP_WHITEOUT) and
// a replaced directory as an opaque one (the UF_OPAQUE flag). UFS has
// both; ZFS has neither, so a unionfs upper directory on ZFS cannot hide a
// lower file.
//
// The snapshot.Snapshotter interface offers two ways to write a layer's
// deletions into ApplyDir: deleting the paths (snapshot.WhiteoutDelete,
// for directories that already show the parent) or overlayfs's character
// devices and xattrs (snapshot.WhiteoutOverlay, Linux only). Writing
// whiteouts into a bare upper directory would need a third format; rather
// than that, ApplyDir of an active snapshot with parents returns a
// unionfs mount of the whole stack (made under <root>/mnt/<id> and kept
// until Commit or Remove), and the applier writes and deletes through it
// with WhiteoutDelete: unionfs itself copies up, writes the whiteouts and
// marks directories opaque, exactly as it will read them back. The
// committed layer is the upper directory with those whiteouts.
//
// So the upper directories must be on a file system with whiteouts: New
// accepts a root on UFS, refuses ZFS (use the zfs snapshotter there, which
// is stockade's default on FreeBSD) and other file systems, and accepts
// tmpfs, whose whiteouts work but whose opaque directories have not been
// verified.
//
// # What is and is not supported
//
//   - Layers are plain directories, copied nowhere: Prepare and View take a
//     constant time, but a snapshot on n layers is n+1 mounts (FreeBSD has
//     no single multi-layer union mount), which cost a vnode layer each on
//     every lookup.
//   - The mount plan is portable code, unit-tested on every OS. The
//     snapshotter itself only runs on FreeBSD; elsewhere New fails with an
//     error wrapping errors.ErrUnsupported.
//   - The conformance suite (unionfs_freebsd_test.go) needs a FreeBSD host
//     and root; it has not been run by stockade's Linux CI, only compiled.
//   - Hard links made through the union to a lower file copy the file up
//     first; its other lower links stay separate files.
//   - File flags and NFSv4 ACLs of lower files are not carried by copy-up
//     beyond what unionfs's transparent copy mode does.
//
// # Layout
//
//	metadata.db            the storage.Store: key -> id, kind, parent, labels
//	snapshots/<id>/fs      the layer's directory (the upper dir of an active one)
//	snapshots/new-*, rm-*  directories being made or deleted
//	mnt/<id>               ApplyDir's mount of an active snapshot's stack
package unionfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/stockade/stockade/internal/flock"
	"github.com/stockade/stockade/mount"
	"github.com/stockade/stockade/snapshot"
	"github.com/stockade/stockade/snapshot/storage"
)

// ErrNoWhiteouts is wrapped by New's error when the root's file system
// cannot store unionfs whiteouts.
var ErrNoWhiteouts = errors.New("file system has no whiteouts for unionfs")

// Unionfs is the unionfs snapshotter. It implements snapshot.Snapshotter
// and snapshot.Cleaner on storage.Base, and is safe for concurrent use by
// several goroutines and processes sharing the same root.
type Unionfs struct {
	*storage.Base
	mnt string
	// mu orders this process's mounts and unmounts of ApplyDir's stacks;
	// the lock file <root>/mnt/lock orders other processes'.
	mu sync.Mutex
}

var (
	_ snapshot.Snapshotter = (*Unionfs)(nil)
	_ snapshot.Cleaner     = (*Unionfs)(nil)
)

// New opens (creating it if needed) the unionfs snapshotter whose files
// live under root. It fails on systems other than FreeBSD, and when root
// is on a file system without whiteouts.
func New(root string) (*Unionfs, error) {
	if err := platformSupported(); err != nil {
		return nil, fmt.Errorf("unionfs snapshotter at %s: %w", root, err)
	}
	u := &Unionfs{}
	var err error
	u.Base, err = storage.NewBase(context.Background(), root, storage.Backend{
		Name: "unionfs",
		// Mount points are compared by path: resolve symbolic links
		// (FreeBSD's /home is one) once.
		ResolveLinks: true,
		Check:        checkFS,
		Mounts:       u.mounts,
		Whiteouts:    snapshot.WhiteoutDelete,
		ApplyDir:     u.applyDir,
		Release:      u.releaseApplyMount,
	})
	if err != nil {
		return nil, err
	}
	u.mnt = filepath.Join(u.Root(), "mnt")
	if err := os.MkdirAll(u.mnt, 0o700); err != nil {
		return nil, fmt.Errorf("unionfs snapshotter at %s: %w", u.Root(), err)
	}
	return u, nil
}

func (u *Unionfs) applyMountPoint(id uint64) string {
	return filepath.Join(u.mnt, strconv.FormatUint(id, 10))
}

// mounts returns the mount plan of an active snapshot or view: a writable
// unionfs upper directory over the parents (or a read-write nullfs mount
// of its directory when there is no parent) for an active snapshot, the
// parents stacked read-only for a view.
func (u *Unionfs) mounts(key string, s storage.Snapshot) ([]snapshot.Mount, error) {
	lowers := make([]string, len(s.ParentIDs))
	for i, id := range s.ParentIDs {
		lowers[i] = u.FSDir(id)
	}
	switch {
	case s.Kind == snapshot.KindActive:
		return MountPlan(u.FSDir(s.ID), lowers), nil
	case s.Kind == snapshot.KindView && len(lowers) == 0:
		return MountPlan("", []string{u.FSDir(s.ID)}), nil
	case s.Kind == snapshot.KindView:
		return MountPlan("", lowers), nil
	}
	return nil, fmt.Errorf("snapshot %q is %s: %w", key, s.Kind, snapshot.ErrNotActive)
}

// applyDir returns where a layer diff for the active snapshot s is
// written, with snapshot.WhiteoutDelete: its own directory when it has no
// parent, or else a unionfs mount of its stack under <root>/mnt, made on
// the first call and kept until Commit or Remove (Release), through which
// deletions become whiteouts in the upper directory.
func (u *Unionfs) applyDir(key string, s storage.Snapshot) (string, error) {
	if len(s.ParentIDs) == 0 {
		return u.FSDir(s.ID), nil
	}
	return u.ensureApplyMount(key, s)
}

// lockMounts orders the mounts and unmounts of ApplyDir's stacks across
// goroutines and processes.
func (u *Unionfs) lockMounts() (func(), error) {
	u.mu.Lock()
	f, err := flock.Acquire(context.Background(), filepath.Join(u.mnt, "lock"), flock.Exclusive)
	if err != nil {
		u.mu.Unlock()
		return nil, err
	}
	return func() { f.Close(); u.mu.Unlock() }, nil
}

// ensureApplyMount mounts the stack of active snapshot s at its apply
// directory unless it is mounted already.
func (u *Unionfs) ensureApplyMount(key string, s storage.Snapshot) (string, error) {
	dir := u.applyMountPoint(s.ID)
	unlock, err := u.lockMounts()
	if err != nil {
		return "", err
	}
	defer unlock()
	if ok, err := isMountPoint(dir); err == nil && ok {
		return dir, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	m, err := u.mounts(key, s)
	if err != nil {
		return "", err
	}
	if err := mount.All(m, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// releaseApplyMount unmounts snapshot id's apply directory, if mounted,
// and removes it. Commit calls it before measuring the upper directory,
// Remove before deleting it.
func (u *Unionfs) releaseApplyMount(id uint64) error {
	dir := u.applyMountPoint(id)
	unlock, err := u.lockMounts()
	if err != nil {
		return err
	}
	defer unlock()
	if ok, err := isMountPoint(dir); err == nil && ok {
		if err := mount.UnmountAll(dir); err != nil {
			return err
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Cleanup deletes what crashes leave: apply mounts of snapshots that are
// no longer active, and directories that belong to no snapshot. It is safe
// to run while other processes use the snapshotter.
func (u *Unionfs) Cleanup(ctx context.Context) error {
	active := map[uint64]bool{}
	err := u.Store().Walk(ctx, func(ctx context.Context, r storage.Record) error {
		if r.Kind == snapshot.KindActive {
			active[r.ID] = true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("unionfs: %w", err)
	}
	ents, err := os.ReadDir(u.mnt)
	if err != nil {
		return fmt.Errorf("unionfs: %w", err)
	}
	var errs []error
	for _, e := range ents {
		id, err := strconv.ParseUint(e.Name(), 10, 64)
		if err != nil || active[id] {
			continue
		}
		if err := u.releaseApplyMount(id); err != nil {
			errs = append(errs, fmt.Errorf("unionfs: %w", err))
		}
	}
	return errors.Join(append(errs, u.Base.Cleanup(ctx))...)
}
