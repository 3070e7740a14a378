package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/bundle"
	"github.com/stockade/stockade/image/layer"
	"github.com/stockade/stockade/image/local"
	"github.com/stockade/stockade/mount"
	"github.com/stockade/stockade/snapshot"
)

// SnapshotDiffer is a capability a snapshotter may implement: listing
// what an active snapshot changed against its parent by itself (zfs diff,
// say), faster than walking both trees. Changes uses it when the
// snapshotter has it; it must return what layer.Compare would, and the
// paths it lists must be readable under the snapshot's mount for
// ExportChanges.
type SnapshotDiffer interface {
	SnapshotChanges(ctx context.Context, key string, opts ...layer.Option) ([]layer.Change, error)
}

// DefaultDiffExcludes are left out of a container's changes whatever its
// bundle says: what runtimes mount over a container's root (the files
// network set-up bind-mounts, /dev, /proc, /sys), as docker leaves them out.
var DefaultDiffExcludes = []string{"/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/dev", "/proc", "/sys"}

// rootChanges is a container root's changes and where their content is.
type rootChanges struct {
	changes []layer.Change
	// dir is where layer.Write reads the content of the changes: the
	// overlay upper directory or the container's root.
	dir string
	// release unmounts what was mounted to find them.
	release func()
}

// Changes returns what the container ref (running or not) changed in its
// root against its image, sorted by path: `stockade diff`.
func (e *Engine) Changes(ctx context.Context, ref string) ([]layer.Change, error) {
	c, err := e.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	rc, err := e.rootChanges(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("diff %s: %w", c.Name, err)
	}
	rc.release()
	return rc.changes, nil
}

// ExportChanges writes what the container ref changed in its root as an
// uncompressed OCI layer tar to w (see layer.Write), and returns the
// changes: `stockade commit`. A running container should be paused for a
// consistent layer.
func (e *Engine) ExportChanges(ctx context.Context, ref string, w io.Writer) ([]layer.Change, error) {
	c, err := e.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	rc, err := e.rootChanges(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("export changes of %s: %w", c.Name, err)
	}
	defer rc.release()
	if err := layer.Write(ctx, w, rc.dir, rc.changes); err != nil {
		return nil, fmt.Errorf("export changes of %s: %w", c.Name, err)
	}
	return rc.changes, nil
}

// diffExcludes returns the paths left out of c's changes: the defaults and
// every mount point of its bundle (volumes, tmpfs, the runtime's).
func (e *Engine) diffExcludes(c *Container) []string {
	out := append([]string(nil), DefaultDiffExcludes...)
	data, err := os.ReadFile(filepath.Join(e.containerDir(c.ID), bundle.ConfigName))
	if err != nil {
		return out
	}
	var spec specs.Spec
	if json.Unmarshal(data, &spec) != nil {
		return out
	}
	for _, m := range spec.Mounts {
		if strings.HasPrefix(m.Destination, "/") {
			out = append(out, path.Clean(m.Destination))
		}
	}
	return out
}

// rootChanges finds c's changes: from the overlay upper directory when
// the root is an overlay mount, from the snapshotter when it is a
// SnapshotDiffer, else by comparing a view of the image's top layer with
// the root.
func (e *Engine) rootChanges(ctx context.Context, c *Container) (*rootChanges, error) {
	sn := e.Snapshotter
	excl := layer.Exclude(e.diffExcludes(c)...)
	mounts, err := sn.Mounts(ctx, c.SnapshotKey)
	if err != nil {
		return nil, fmt.Errorf("root file system: %w", err)
	}
	if upper, lowers, ok := overlayDirs(mounts); ok {
		ch, err := layer.OverlayChanges(ctx, upper, lowers, excl)
		if err != nil {
			return nil, err
		}
		return &rootChanges{changes: ch, dir: upper, release: func() {}}, nil
	}
	info, err := sn.Stat(ctx, c.SnapshotKey)
	if err != nil {
		return nil, fmt.Errorf("root file system: %w", err)
	}
	root, unmountRoot, err := e.mountTemp(mounts, "root")
	if err != nil {
		return nil, err
	}
	if d, ok := sn.(SnapshotDiffer); ok {
		ch, err := d.SnapshotChanges(ctx, c.SnapshotKey, excl)
		if err != nil {
			unmountRoot()
			return nil, err
		}
		return &rootChanges{changes: ch, dir: root, release: unmountRoot}, nil
	}
	lower, unmountLower := "", func() {}
	if info.Parent != "" {
		// The lease keeps collection from removing the view while it
		// is used; a view a killed process left is collected.
		unlease, err := e.Images.Lease(ctx)
		if err != nil {
			unmountRoot()
			return nil, err
		}
		key := local.TempViewPrefix + shortID(c.ID) + "-" + randomSuffix()
		vm, err := sn.View(ctx, key, info.Parent)
		if err != nil {
			unlease()
			unmountRoot()
			return nil, fmt.Errorf("view of the image: %w", err)
		}
		dropView := func() {
			if err := sn.Remove(context.WithoutCancel(ctx), key); err != nil && !errors.Is(err, snapshot.ErrNotFound) {
				e.logger().Warn("remove diff view", "key", key, "error", err)
			}
			unlease()
		}
		dir, unmount, err := e.mountTemp(vm, "image")
		if err != nil {
			dropView()
			unmountRoot()
			return nil, err
		}
		lower = dir
		unmountLower = func() { unmount(); dropView() }
	}
	release := func() { unmountLower(); unmountRoot() }
	ch, err := layer.Compare(ctx, lower, root, excl)
	if err != nil {
		release()
		return nil, err
	}
	return &rootChanges{changes: ch, dir: root, release: release}, nil
}

// overlayDirs reads the upper and lower directories of an overlay mount.
func overlayDirs(mounts []snapshot.Mount) (upper string, lowers []string, ok bool) {
	if len(mounts) != 1 || mounts[0].Type != "overlay" {
		return "", nil, false
	}
	for _, o := range mounts[0].Options {
		if v, found := strings.CutPrefix(o, "upperdir="); found {
			upper = v
		}
		if v, found := strings.CutPrefix(o, "lowerdir="); found {
			lowers = strings.Split(v, ":")
		}
	}
	if upper == "" {
		return "", nil, false
	}
	return upper, lowers, true
}

// mountTemp makes mounts readable as a directory: the source of a single
// bind or nullfs mount as it is, anything else mounted on a temporary
// directory under the state directory. The function returned undoes it.
func (e *Engine) mountTemp(mounts []snapshot.Mount, what string) (string, func(), error) {
	if len(mounts) == 1 && (mounts[0].Type == "bind" || mounts[0].Type == "nullfs") {
		return mounts[0].Source, func() {}, nil
	}
	if err := os.MkdirAll(e.StateDir, 0o700); err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp(e.StateDir, "diff-"+what+"-")
	if err != nil {
		return "", nil, err
	}
	if err := mount.All(mounts, dir); err != nil {
		os.Remove(dir)
		return "", nil, fmt.Errorf("mount %s: %w", what, err)
	}
	return dir, func() {
		if err := mount.UnmountAll(dir); err != nil {
			e.logger().Warn("unmount", "dir", dir, "error", err)
			return
		}
		os.Remove(dir)
	}, nil
}

// randomSuffix returns 8 random hex digits.
func randomSuffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}
