// Package overlay is the overlayfs snapshotter, the default storage backend
// of stockade on Linux.
//
// The package builds on every system so that the rest of stockade can name
// it; on systems other than Linux New fails with an error saying overlayfs
// is not supported there.
//
// # Layout
//
// A Snapshotter's root holds:
//
//	metadata.db            the storage.Store: key -> id, kind, parent, labels
//	snapshots/<id>/fs      the snapshot's files (the upper dir of an active one)
//	snapshots/<id>/work    overlayfs's work dir (active snapshots only)
//	snapshots/new-*        directories being made (locked by their maker)
//	snapshots/rm-*         directories being deleted
//
// Ids are small decimal numbers to keep the lowerdir option short.
//
// # Depth limit
//
// mount(2) copies at most one page of options, so an overlay mount's
// options string must fit in mount.MaxDataLen (4095) bytes. With D the
// length of "<root>/snapshots" and d the number of digits of the ids, each
// lower layer takes D+d+5 bytes ("/<id>/fs:") and the workdir, upperdir and
// option names 2D+2d+36 more, so a chain can be up to
// (4059-2D-2d)/(D+d+5) layers deep (10 bytes fewer when "index=off" must
// be passed): 86 layers for the root /var/db/stockade/overlay with 7-digit
// ids, 94 with 3-digit ids.
// Snapshotter.MaxLayers computes it for a root. Prepare and View of a deeper
// chain fail with an error wrapping ErrTooManyLayers, before anything is
// recorded.
package overlay

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/stockade/stockade/mount"
	"github.com/stockade/stockade/snapshot"
	"github.com/stockade/stockade/snapshot/storage"
)

// ErrTooManyLayers is wrapped by the error of Prepare and View when the
// parent chain is too deep for the options of a single overlay mount.
var ErrTooManyLayers = errors.New("too many layers for one overlay mount")

// Snapshotter is the overlayfs snapshotter. It implements snapshot.Snapshotter
// and is safe for concurrent use by several goroutines and by several
// processes sharing the same root.
type Snapshotter struct {
	root     string
	store    *storage.Store
	dirs     *storage.Dirs
	indexOff bool
}

var (
	_ snapshot.Snapshotter = (*Snapshotter)(nil)
	_ snapshot.Cleaner     = (*Snapshotter)(nil)
)

// New opens (creating it if needed) the overlay snapshotter whose
// files live under root. It fails when the kernel has no overlayfs or when
// overlayfs cannot use root's file system for its upper dirs.
func New(root string) (*Snapshotter, error) {
	if root == "" {
		return nil, errors.New("overlay snapshotter: empty root")
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("overlay snapshotter at %s: %w", root, err)
	}
	if err := platformSupported(); err != nil {
		return nil, fmt.Errorf("overlay snapshotter at %s: %w", root, err)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("overlay snapshotter at %s: %w", root, err)
	}
	if err := checkOverlay(root); err != nil {
		return nil, fmt.Errorf("overlay snapshotter at %s: %w", root, err)
	}
	dirs, err := storage.NewDirs(filepath.Join(root, "snapshots"))
	if err != nil {
		return nil, fmt.Errorf("overlay snapshotter at %s: %w", root, err)
	}
	store, err := storage.Open(context.Background(), filepath.Join(root, storage.FileName))
	if err != nil {
		return nil, fmt.Errorf("overlay snapshotter at %s: %w", root, err)
	}
	return &Snapshotter{root: root, store: store, dirs: dirs, indexOff: overlayIndexOn()}, nil
}

// Root returns the snapshotter's root directory.
func (o *Snapshotter) Root() string { return o.root }

// Store returns the snapshotter's metadata store.
func (o *Snapshotter) Store() *storage.Store { return o.store }

func (o *Snapshotter) fsDir(id uint64) string   { return filepath.Join(o.dirs.Path(id), "fs") }
func (o *Snapshotter) workDir(id uint64) string { return filepath.Join(o.dirs.Path(id), "work") }

// MaxLayers returns how many layers a parent chain can have under this
// root before its overlay mount options exceed mount.MaxDataLen, assuming
// ids of up to 7 digits (ten million snapshots).
func (o *Snapshotter) MaxLayers() int {
	return maxLayers(o.dirs.Root(), 7, o.indexOff)
}

func maxLayers(snapshotsDir string, digits int, indexOff bool) int {
	id := strings.Repeat("9", digits)
	fixed := len(strings.Join(activeOptions(snapshotsDir+"/"+id+"/work", snapshotsDir+"/"+id+"/fs", nil, indexOff), ","))
	perLayer := len(snapshotsDir) + 1 + digits + len("/fs") + 1
	// fixed counted "lowerdir=" but not the colon the last layer lacks.
	return (mount.MaxDataLen - fixed + 1) / perLayer
}

func activeOptions(work, upper string, lowers []string, indexOff bool) []string {
	var opts []string
	if indexOff {
		opts = append(opts, "index=off")
	}
	return append(opts, "workdir="+work, "upperdir="+upper, "lowerdir="+strings.Join(lowers, ":"))
}

// mounts returns the mounts of an active snapshot or view.
func (o *Snapshotter) mounts(key string, s storage.Snapshot) ([]snapshot.Mount, error) {
	lowers := make([]string, len(s.ParentIDs))
	for i, id := range s.ParentIDs {
		lowers[i] = o.fsDir(id)
	}
	var m snapshot.Mount
	switch {
	case s.Kind == snapshot.KindActive && len(lowers) == 0:
		return []snapshot.Mount{{Type: "bind", Source: o.fsDir(s.ID), Options: []string{"rw"}}}, nil
	case s.Kind == snapshot.KindActive:
		m = snapshot.Mount{Type: "overlay", Source: "overlay",
			Options: activeOptions(o.workDir(s.ID), o.fsDir(s.ID), lowers, o.indexOff)}
	case s.Kind == snapshot.KindView && len(lowers) == 0:
		return []snapshot.Mount{{Type: "bind", Source: o.fsDir(s.ID), Options: []string{"ro"}}}, nil
	case s.Kind == snapshot.KindView && len(lowers) == 1:
		return []snapshot.Mount{{Type: "bind", Source: lowers[0], Options: []string{"ro"}}}, nil
	case s.Kind == snapshot.KindView:
		opts := []string{"ro"}
		if o.indexOff {
			opts = append(opts, "index=off")
		}
		m = snapshot.Mount{Type: "overlay", Source: "overlay",
			Options: append(opts, "lowerdir="+strings.Join(lowers, ":"))}
	default:
		return nil, fmt.Errorf("snapshot %q is %s: %w", key, s.Kind, snapshot.ErrNotActive)
	}
	if n := len(mount.ParseOptions(m.Options).Data); n > mount.MaxDataLen {
		return nil, fmt.Errorf("snapshot %q: a chain of %d layers needs %d bytes of overlay mount options, over the kernel's limit of %d; under %s the limit is about %d layers: %w",
			key, len(lowers), n, mount.MaxDataLen, o.root, o.MaxLayers(), ErrTooManyLayers)
	}
	return []snapshot.Mount{m}, nil
}

// Prepare creates an active snapshot on top of the committed snapshot
// parent ("" for none) and returns its mounts: a read-write bind mount of
// its directory when there is no parent, or an overlay mount whose
// lowerdir lists the parent chain's directories, nearest parent first.
func (o *Snapshotter) Prepare(ctx context.Context, key, parent string, opts ...snapshot.Opt) ([]snapshot.Mount, error) {
	return o.create(ctx, snapshot.KindActive, key, parent, opts)
}

// View creates a read-only snapshot of parent and returns its mounts: a
// read-only bind mount when the chain has one layer (or none), or an
// overlay mount with only lowerdirs otherwise.
func (o *Snapshotter) View(ctx context.Context, key, parent string, opts ...snapshot.Opt) ([]snapshot.Mount, error) {
	return o.create(ctx, snapshot.KindView, key, parent, opts)
}

func (o *Snapshotter) create(ctx context.Context, kind snapshot.Kind, key, parent string, opts []snapshot.Opt) ([]snapshot.Mount, error) {
	if err := snapshot.ValidKey(key); err != nil {
		return nil, fmt.Errorf("overlay: create %s snapshot: %w", kind, err)
	}
	if parent != "" {
		if err := snapshot.ValidKey(parent); err != nil {
			return nil, fmt.Errorf("overlay: snapshot %q: parent: %w", key, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("overlay: snapshot %q: %w", key, err)
	}
	st, err := o.dirs.Stage()
	if err != nil {
		return nil, fmt.Errorf("overlay: snapshot %q: %w", key, err)
	}
	defer st.Close()
	fs := filepath.Join(st.Path(), "fs")
	if err := os.Mkdir(fs, 0o755); err != nil {
		return nil, fmt.Errorf("overlay: snapshot %q: %w", key, err)
	}
	if kind == snapshot.KindActive {
		if err := os.Mkdir(filepath.Join(st.Path(), "work"), 0o700); err != nil {
			return nil, fmt.Errorf("overlay: snapshot %q: %w", key, err)
		}
	}
	var mounts []snapshot.Mount
	_, err = o.store.Create(ctx, kind, key, parent, opts, func(s storage.Snapshot) error {
		m, err := o.mounts(key, s)
		if err != nil {
			return err
		}
		if kind == snapshot.KindActive && len(s.ParentIDs) > 0 {
			// The merged root takes its owner and mode from the upper
			// dir: give it the parent's.
			if err := copyDirAttrs(o.fsDir(s.ParentIDs[0]), fs); err != nil {
				return err
			}
		}
		if err := st.Install(s.ID); err != nil {
			return err
		}
		mounts = m
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("overlay: %w", err)
	}
	return mounts, nil
}

// Commit turns the active snapshot key into the committed snapshot name,
// keeping its directory, and records its disk usage.
func (o *Snapshotter) Commit(ctx context.Context, name, key string, opts ...snapshot.Opt) error {
	return o.store.CommitActive(ctx, "overlay", name, key, func(s storage.Snapshot) (snapshot.Usage, error) {
		return storage.DiskUsage(ctx, o.fsDir(s.ID))
	}, opts...)
}

// Mounts returns the mounts of the active snapshot or view key.
func (o *Snapshotter) Mounts(ctx context.Context, key string) ([]snapshot.Mount, error) {
	return o.store.MountsOf(ctx, "overlay", key, o.mounts)
}

// Remove deletes the snapshot key: first its record, then its directory.
// It fails with an error wrapping snapshot.ErrHasChildren while another
// snapshot has key as parent. If the directory cannot be deleted the record
// is gone all the same, and Cleanup deletes the directory later.
func (o *Snapshotter) Remove(ctx context.Context, key string) error {
	_, err := storage.RemoveSnapshot(ctx, o.store, o.dirs, "overlay", key)
	return err
}

// Stat returns the Info of the snapshot key.
func (o *Snapshotter) Stat(ctx context.Context, key string) (snapshot.Info, error) {
	return o.store.StatInfo(ctx, "overlay", key)
}

// Walk calls fn for every snapshot, in key order.
func (o *Snapshotter) Walk(ctx context.Context, fn func(context.Context, snapshot.Info) error) error {
	return o.store.WalkInfo(ctx, fn)
}

// Usage returns the space the snapshot key uses by itself: the usage
// recorded at commit for a committed snapshot, or a walk of its directory
// for an active one.
func (o *Snapshotter) Usage(ctx context.Context, key string) (snapshot.Usage, error) {
	rec, err := o.store.Stat(ctx, key)
	if err != nil {
		return snapshot.Usage{}, fmt.Errorf("overlay: usage: %w", err)
	}
	if rec.Kind == snapshot.KindCommitted {
		return rec.Usage, nil
	}
	u, err := storage.DiskUsage(ctx, o.fsDir(rec.ID))
	if err != nil {
		return snapshot.Usage{}, fmt.Errorf("overlay: usage of snapshot %q: %w", key, err)
	}
	return u, nil
}

// ApplyDir returns the upper directory of the active snapshot key, into
// which a layer diff is written with overlayfs whiteouts.
func (o *Snapshotter) ApplyDir(ctx context.Context, key string) (string, snapshot.WhiteoutFormat, error) {
	s, err := o.store.GetSnapshot(ctx, key)
	if err != nil {
		return "", 0, fmt.Errorf("overlay: apply dir: %w", err)
	}
	if s.Kind != snapshot.KindActive {
		return "", 0, fmt.Errorf("overlay: apply dir of snapshot %q: it is %s: %w", key, s.Kind, snapshot.ErrNotActive)
	}
	return o.fsDir(s.ID), snapshot.WhiteoutOverlay, nil
}

// Cleanup deletes the directories that belong to no snapshot: those left
// by a crash during Prepare, View or Remove. It is safe to run while other
// processes use the snapshotter.
func (o *Snapshotter) Cleanup(ctx context.Context) error {
	if err := o.dirs.Cleanup(ctx, o.store); err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	return nil
}

// Close releases the snapshotter. It holds no open files between calls, so
// Close only exists to satisfy snapshot.Snapshotter; it may be called more
// than once.
func (o *Snapshotter) Close() error { return nil }
