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

// Snapshotter is the overlayfs snapshotter. It implements
// snapshot.Snapshotter and snapshot.Cleaner on storage.Base, and is safe
// for concurrent use by several goroutines and by several processes
// sharing the same root.
type Snapshotter struct {
	*storage.Base
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
	if err := platformSupported(); err != nil {
		return nil, fmt.Errorf("overlay snapshotter at %s: %w", root, err)
	}
	if err := checkRootPath(root); err != nil {
		return nil, err
	}
	o := &Snapshotter{indexOff: overlayIndexOn()}
	var err error
	o.Base, err = storage.NewBase(context.Background(), root, storage.Backend{
		Name:      "overlay",
		Check:     checkOverlay,
		Mounts:    o.mounts,
		Whiteouts: snapshot.WhiteoutOverlay,
		Fill:      o.fill,
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// checkRootPath refuses a root whose path overlayfs's mount options cannot
// carry: ',' separates the options and ':' the lower directories, and the
// kernel's option parser has no escape for either in the lowerdir list.
func checkRootPath(root string) error {
	if i := strings.IndexAny(root, ",:"); i >= 0 {
		return fmt.Errorf("overlay snapshotter at %s: the path contains %q, which overlayfs mount options cannot carry; choose a data root without ',' or ':'", root, root[i])
	}
	return nil
}

func (o *Snapshotter) workDir(id uint64) string { return filepath.Join(o.Dirs().Path(id), "work") }

// MaxLayers returns how many layers a parent chain can have under this
// root before its overlay mount options exceed mount.MaxDataLen, assuming
// ids of up to 7 digits (ten million snapshots).
func (o *Snapshotter) MaxLayers() int {
	return maxLayers(o.Dirs().Root(), 7, o.indexOff)
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
		lowers[i] = o.FSDir(id)
	}
	var m snapshot.Mount
	switch {
	case s.Kind == snapshot.KindActive && len(lowers) == 0:
		return []snapshot.Mount{{Type: "bind", Source: o.FSDir(s.ID), Options: []string{"rw"}}}, nil
	case s.Kind == snapshot.KindActive:
		m = snapshot.Mount{Type: "overlay", Source: "overlay",
			Options: activeOptions(o.workDir(s.ID), o.FSDir(s.ID), lowers, o.indexOff)}
	case s.Kind == snapshot.KindView && len(lowers) == 0:
		return []snapshot.Mount{{Type: "bind", Source: o.FSDir(s.ID), Options: []string{"ro"}}}, nil
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
			key, len(lowers), n, mount.MaxDataLen, o.Root(), o.MaxLayers(), ErrTooManyLayers)
	}
	return []snapshot.Mount{m}, nil
}

// fill makes overlayfs's work directory beside the fs directory of a new
// active snapshot and, once the parent is known, gives the fs directory the
// owner and mode of the parent's: the merged root takes them from the
// upper dir.
func (o *Snapshotter) fill(ctx context.Context, kind snapshot.Kind, key, parent, dir string) (func(storage.Snapshot) error, error) {
	if kind != snapshot.KindActive {
		return nil, nil
	}
	if err := os.Mkdir(filepath.Join(dir, "work"), 0o700); err != nil {
		return nil, err
	}
	return func(s storage.Snapshot) error {
		if len(s.ParentIDs) == 0 {
			return nil
		}
		return copyDirAttrs(o.FSDir(s.ParentIDs[0]), filepath.Join(dir, "fs"))
	}, nil
}
