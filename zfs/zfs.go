// Package zfs is the ZFS snapshotter, stockade's default on FreeBSD. It
// keeps every layer in a dataset of its own, made as a clone of the parent
// layer's snapshot, so a layer stores only its own changes and a container
// root is a clone of the top layer: creating it takes a constant time
// whatever the size of the image. It drives the zfs(8) command through
// github.com/mistifyio/go-zfs/v3, so it runs wherever OpenZFS does
// (FreeBSD 13+, Linux) and needs no cgo.
//
// # Datasets
//
// Under the parent dataset P (config `[zfs] dataset`, e.g. zroot/stockade):
//
//	P/layers                  canmount=off, mountpoint=<root>/layers
//	P/layers/<name>           a committed layer (canmount=noauto, unmounted)
//	P/layers/<name>@layer     its snapshot: the parent of its children
//	P/active                  canmount=off, mountpoint=<root>/active
//	P/active/<key>            an active snapshot, mounted at <root>/active/<key>
//	P/views                   canmount=off, mountpoint=<root>/views
//	P/views/<key>             a view: a clone with readonly=on, mounted
//
// A base layer is made with `zfs create`; every other snapshot is a `zfs
// clone` of its parent's P/layers/<parent>@layer, so `zfs get origin`
// shows the chain and `zfs list -o name,origin,used,stockade:key` reads
// like the image history. Keys are used as dataset names as they are
// (snapshot.ValidKey's alphabet is a subset of ZFS's, ':' included); a key
// too long for ZFS's 255-byte names is cut and suffixed with a hash.
//
// Every snapshot's record lives in ZFS user properties, so there is no
// other metadata to keep in step: PropKey, PropKind, PropParent,
// PropLabels, PropCreated, PropUpdated and PropContainer, set with `-o` by
// the very `zfs create`, `zfs clone` or `zfs snapshot` that makes the
// dataset, so a record is never half-written. An active snapshot or view
// keeps its record on its dataset; a committed layer keeps it on its
// @layer snapshot.
//
// # Mountpoints
//
// Mountpoints are set on the three group datasets (which themselves have
// canmount=off) and inherited, so they sit under the snapshotter's root
// directory instead of wherever P happens to be mounted. Active snapshots
// and views have canmount=on: they are mounted when made and come back by
// themselves after a reboot (`zfs mount -a`), and Mounts and ApplyDir mount
// them again if they are not. Committed layers are unmounted and set to
// canmount=noauto on Commit: nothing reads them through their own
// mountpoint (children are clones, which share blocks, not paths), and a
// host with a thousand layers should not have a thousand mounts.
//
// Mounts returns a read-write (active) or read-only (view) bind mount of
// the dataset's mountpoint: "nullfs" on FreeBSD, "bind" elsewhere. A ZFS
// dataset can be mounted only once on FreeBSD, so the runtime must see a
// directory, not a dataset.
//
// # Commit
//
// Commit of key K as name N runs, under the lock:
//
//  1. zfs snapshot -o stockade:key=N -o stockade:kind=committed ... P/active/K@layer
//  2. zfs unmount P/active/K
//  3. zfs rename P/active/K P/layers/N (the commit point)
//  4. zfs set canmount=noauto stockade:key=N stockade:kind=committed ... P/layers/N
//
// Readers trust P/layers/N@layer for a committed layer and the dataset for
// an active one, so a crash before step 3 leaves K active (with a stale
// @layer snapshot that the next Commit replaces and Check removes) and a
// crash after it leaves N committed (step 4 only keeps the layer from being
// mounted at boot and mirrors the record on the dataset for people reading
// `zfs list`; Check redoes it).
//
// # Concurrency
//
// Calls that change something take an exclusive flock on <root>/lock, held
// across the lookups and the zfs commands, so two processes cannot make
// the same key twice or both commit to the same name: the second gets
// snapshot.ErrExists. Every process using P must use the same root. Reads
// (Stat, Walk, Usage, Mounts) take no lock: each zfs command sees a
// consistent pool, and a record is never half-written.
//
// # Removal
//
// A committed layer whose @layer snapshot has clones is kept: Remove
// returns an error wrapping snapshot.ErrHasChildren naming them. Removing
// the last child then the parent frees everything; `zfs destroy -r` takes
// a dataset's own snapshots with it.
//
// # Usage
//
// Usage.Size is the dataset's logicalused property: what the snapshot
// holds by itself, not counting the blocks it shares with its parents,
// before compression (so numbers compare with the other snapshotters; the
// bytes on disk are in `used`). Usage.Inodes is the sum of objused from
// `zfs userspace` (it falls back to counting the mounted tree on pools
// without the userobj_accounting feature). An active snapshot's numbers
// come after a `zpool sync`, since ZFS updates them when a transaction
// group is written.
//
// # Container roots
//
// Snapshot, Rollback, ListSnapshots and RemoveSnapshot manage ZFS
// snapshots of an active snapshot (a container root). LabelSize on Prepare
// sets a quota, and LabelContainer marks the container whose root it is.
// Check finds and repairs what crashes and hand edits leave behind.
package zfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gozfs "github.com/mistifyio/go-zfs/v3"

	"github.com/stockade/stockade/internal/flock"
	"github.com/stockade/stockade/snapshot"
	"github.com/stockade/stockade/snapshot/storage"
)

// DefaultStaleAfter is how long an active snapshot or view that is not a
// container's root may stay unchanged before Check reports it abandoned.
const DefaultStaleAfter = 24 * time.Hour

// maxParentLen bounds the length of the parent dataset's name, so that
// keys of at least 90 bytes (a sha256 chain id takes 71) keep their own
// names.
const maxParentLen = 150

// Config configures a Snapshotter.
type Config struct {
	// Dataset is the parent dataset, such as "zroot/stockade". It is
	// created if missing (with canmount=off and Root as mountpoint).
	Dataset string
	// Root is a directory for the mountpoints (<Root>/active/<key>,
	// <Root>/views/<key>) and the lock file. Every process that uses
	// Dataset must use the same Root.
	Root string
	// StaleAfter is how long an active snapshot or view that is not marked
	// with LabelContainer may go without change before Check reports it
	// as abandoned; 0 means DefaultStaleAfter.
	StaleAfter time.Duration
}

// Snapshotter is the ZFS snapshotter. It implements snapshot.Snapshotter
// and is safe for concurrent use by several goroutines and several
// processes sharing the same Config.
type Snapshotter struct {
	layout
	pool       string
	root       string
	lockPath   string
	staleAfter time.Duration
	// mu queues this process's goroutines before they poll the file lock.
	mu sync.Mutex
}

var _ snapshot.Snapshotter = (*Snapshotter)(nil)

// bindType is the mount type Mounts returns: FreeBSD's nullfs, or what
// Linux calls a bind mount.
var bindType = func() string {
	if runtime.GOOS == "freebsd" {
		return "nullfs"
	}
	return "bind"
}()

// layout names the datasets under a parent dataset.
type layout struct {
	dataset string
	maxComp int
}

func newLayout(dataset string) layout {
	return layout{dataset: dataset, maxComp: maxComponent(dataset)}
}

func (l layout) group(g string) string { return l.dataset + "/" + g }

// datasetName returns the dataset that holds key in group g.
func (l layout) datasetName(g, key string) string {
	return l.dataset + "/" + g + "/" + component(key, l.maxComp)
}

// layerSnapName returns the @layer snapshot of the committed key.
func (l layout) layerSnapName(key string) string {
	return l.datasetName(groupLayers, key) + "@" + layerSnap
}

func groupOf(kind snapshot.Kind) string {
	switch kind {
	case snapshot.KindCommitted:
		return groupLayers
	case snapshot.KindView:
		return groupViews
	}
	return groupActive
}

// splitName splits a dataset or snapshot name under the parent dataset
// into its group, its name component and its snapshot name. ok is false
// for names that are not one level below a group.
func (l layout) splitName(name string) (group, comp, snap string, ok bool) {
	rest, found := strings.CutPrefix(name, l.dataset+"/")
	if !found {
		return "", "", "", false
	}
	rest, snap, _ = strings.Cut(rest, "@")
	group, comp, found = strings.Cut(rest, "/")
	if !found || comp == "" || strings.Contains(comp, "/") {
		return "", "", "", false
	}
	switch group {
	case groupLayers, groupActive, groupViews:
		return group, comp, snap, true
	}
	return "", "", "", false
}

// validDataset checks the parent dataset's name.
func validDataset(name string) error {
	if name == "" {
		return errors.New("no dataset configured")
	}
	if len(name) > maxParentLen {
		return fmt.Errorf("dataset name %q is longer than %d bytes", name, maxParentLen)
	}
	for _, c := range strings.Split(name, "/") {
		if c == "" {
			return fmt.Errorf("dataset name %q has an empty component", name)
		}
		for _, r := range c {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
				r == '_', r == '-', r == '.', r == ':':
			default:
				return fmt.Errorf("dataset name %q: %q is not allowed", name, r)
			}
		}
	}
	return nil
}

// New opens the snapshotter on cfg.Dataset, creating the parent dataset
// and its layers, active and views children if they are missing, and
// pointing the children's mountpoints under cfg.Root.
func New(ctx context.Context, cfg Config) (*Snapshotter, error) {
	if err := validDataset(cfg.Dataset); err != nil {
		return nil, fmt.Errorf("zfs snapshotter: %w", err)
	}
	if cfg.Root == "" {
		return nil, fmt.Errorf("zfs snapshotter on %s: no root directory", cfg.Dataset)
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("zfs snapshotter on %s: %w", cfg.Dataset, err)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("zfs snapshotter on %s: %w", cfg.Dataset, err)
	}
	z := &Snapshotter{
		layout:     newLayout(cfg.Dataset),
		pool:       strings.SplitN(cfg.Dataset, "/", 2)[0],
		root:       root,
		lockPath:   filepath.Join(root, "lock"),
		staleAfter: cfg.StaleAfter,
	}
	if z.staleAfter <= 0 {
		z.staleAfter = DefaultStaleAfter
	}
	if err := z.init(ctx); err != nil {
		return nil, fmt.Errorf("zfs snapshotter on %s: %w", cfg.Dataset, err)
	}
	return z, nil
}

func (z *Snapshotter) init(ctx context.Context) error {
	if _, err := exec0(ctx); err != nil {
		return err
	}
	unlock, err := z.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	groups := []string{groupLayers, groupActive, groupViews}
	names := []string{z.dataset}
	for _, g := range groups {
		names = append(names, z.group(g))
	}
	st, err := getProps(ctx, false, names...)
	if err != nil {
		return err
	}
	if st[z.dataset] == nil {
		if _, err := zfsRun(ctx, "create", "-p", "-o", "canmount=off", "-o", "mountpoint="+z.root, z.dataset); err != nil && !isExists(err) {
			return fmt.Errorf("create %s: %w", z.dataset, err)
		}
	}
	for _, g := range groups {
		name, mp := z.group(g), filepath.Join(z.root, g)
		s := st[name]
		if s == nil {
			if _, err := zfsRun(ctx, "create", "-o", "canmount=off", "-o", "mountpoint="+mp, name); err != nil && !isExists(err) {
				return fmt.Errorf("create %s: %w", name, err)
			}
			continue
		}
		var fix [][2]string
		if s.prop("mountpoint") != mp {
			fix = append(fix, [2]string{"mountpoint", mp})
		}
		if s.prop("canmount") != "off" {
			fix = append(fix, [2]string{"canmount", "off"})
		}
		if err := setProps(ctx, name, fix); err != nil {
			return fmt.Errorf("set up %s: %w", name, err)
		}
	}
	return nil
}

// exec0 checks that the zfs command can be run.
func exec0(ctx context.Context) (string, error) {
	out, err := zfsRun(ctx, "version")
	if err != nil {
		if s := stderrOf(err); strings.Contains(s, "unrecognized command") || strings.Contains(s, "invalid command") {
			return "", nil // OpenZFS before 0.8 and FreeBSD's legacy ZFS have no "version"
		}
		return "", fmt.Errorf("cannot run zfs: %w", err)
	}
	return out, nil
}

// Dataset returns the parent dataset.
func (z *Snapshotter) Dataset() string { return z.dataset }

// Root returns the directory holding the mountpoints and the lock file.
func (z *Snapshotter) Root() string { return z.root }

// lock takes the exclusive lock on <root>/lock, waiting for other
// processes until ctx is done.
func (z *Snapshotter) lock(ctx context.Context) (func(), error) {
	z.mu.Lock()
	f, err := flock.Acquire(ctx, z.lockPath, flock.Exclusive)
	if err != nil {
		z.mu.Unlock()
		return nil, fmt.Errorf("zfs: %w", err)
	}
	return func() { f.Close(); z.mu.Unlock() }, nil
}

// found is what a lookup learned about a key.
type found struct {
	// rec is the key's record, nil when no snapshot has the key.
	rec *record
	// dataset is the dataset holding the snapshot's files.
	dataset string
	// ds is the dataset's state; snap is the @layer snapshot's state for
	// a committed snapshot.
	ds, snap *dsState
	// taken is true when any of the key's dataset names exists, whether or
	// not it holds this key.
	taken bool
}

// find looks keys up with one `zfs get`. A committed record takes
// precedence over an active one, which takes precedence over a view.
func (z *Snapshotter) find(ctx context.Context, keys ...string) (map[string]*found, error) {
	var names []string
	for _, k := range keys {
		names = append(names, z.layerSnapName(k), z.datasetName(groupLayers, k),
			z.datasetName(groupActive, k), z.datasetName(groupViews, k))
	}
	states, err := getProps(ctx, false, names...)
	if err != nil {
		return nil, err
	}
	res := make(map[string]*found, len(keys))
	for _, k := range keys {
		f := &found{}
		res[k] = f
		try := func(holder, dataset string, kind snapshot.Kind) {
			st := states[holder]
			if st == nil {
				return
			}
			f.taken = true
			if f.rec != nil {
				return
			}
			r, err := parseRecord(st)
			if err != nil || r.Name != k || r.Kind != kind {
				return
			}
			f.rec, f.dataset, f.ds = r, dataset, states[dataset]
			if kind == snapshot.KindCommitted {
				f.snap = st
			}
		}
		layer := z.datasetName(groupLayers, k)
		try(z.layerSnapName(k), layer, snapshot.KindCommitted)
		if states[layer] != nil {
			f.taken = true
		}
		try(z.datasetName(groupActive, k), z.datasetName(groupActive, k), snapshot.KindActive)
		try(z.datasetName(groupViews, k), z.datasetName(groupViews, k), snapshot.KindView)
	}
	return res, nil
}

// lookup finds one key, failing with an error wrapping
// snapshot.ErrNotFound when there is no such snapshot.
func (z *Snapshotter) lookup(ctx context.Context, key string) (*found, error) {
	if err := snapshot.ValidKey(key); err != nil {
		return nil, err
	}
	f, err := z.find(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("snapshot %q: %w", key, err)
	}
	if f[key].rec == nil {
		return nil, fmt.Errorf("snapshot %q: %w", key, snapshot.ErrNotFound)
	}
	return f[key], nil
}

// Prepare creates an active snapshot on top of the committed snapshot
// parent ("" for none): a clone of the parent's @layer snapshot, or a new
// empty file system. It returns a read-write bind mount of its mountpoint.
// The label LabelSize sets a quota; LabelContainer marks a container root.
func (z *Snapshotter) Prepare(ctx context.Context, key, parent string, opts ...snapshot.Opt) ([]snapshot.Mount, error) {
	return z.create(ctx, snapshot.KindActive, key, parent, opts)
}

// View creates a read-only snapshot of parent: a clone with readonly=on.
// It returns a read-only bind mount of its mountpoint.
func (z *Snapshotter) View(ctx context.Context, key, parent string, opts ...snapshot.Opt) ([]snapshot.Mount, error) {
	return z.create(ctx, snapshot.KindView, key, parent, opts)
}

func (z *Snapshotter) create(ctx context.Context, kind snapshot.Kind, key, parent string, opts []snapshot.Opt) ([]snapshot.Mount, error) {
	if err := snapshot.ValidKey(key); err != nil {
		return nil, fmt.Errorf("zfs: create %s snapshot: %w", kind, err)
	}
	if parent != "" {
		if err := snapshot.ValidKey(parent); err != nil {
			return nil, fmt.Errorf("zfs: snapshot %q: parent: %w", key, err)
		}
	}
	info := applyOpts(snapshot.Info{}, opts)
	var quota uint64
	if s, ok := info.Labels[LabelSize]; ok && kind == snapshot.KindActive {
		q, err := ParseSize(s)
		if err != nil {
			return nil, fmt.Errorf("zfs: snapshot %q: label %s: %w", key, LabelSize, err)
		}
		quota = q
	}
	unlock, err := z.lock(ctx)
	if err != nil {
		return nil, fmt.Errorf("zfs: snapshot %q: %w", key, err)
	}
	defer unlock()
	keys := []string{key}
	if parent != "" {
		keys = append(keys, parent)
	}
	f, err := z.find(ctx, keys...)
	if err != nil {
		return nil, fmt.Errorf("zfs: snapshot %q: %w", key, err)
	}
	if f[key].taken {
		return nil, fmt.Errorf("zfs: snapshot %q: %w", key, snapshot.ErrExists)
	}
	origin := ""
	if parent != "" {
		p := f[parent]
		switch {
		case p.rec == nil:
			return nil, fmt.Errorf("zfs: snapshot %q: parent %q: %w", key, parent, snapshot.ErrNotFound)
		case p.rec.Kind != snapshot.KindCommitted:
			return nil, fmt.Errorf("zfs: snapshot %q: parent %q is %s: %w", key, parent, p.rec.Kind, snapshot.ErrNotCommitted)
		}
		origin = z.layerSnapName(parent)
	}
	now := time.Now().UTC()
	rec := &record{
		Info:      snapshot.Info{Name: key, Parent: parent, Kind: kind, Labels: info.Labels, Created: now, Updated: now},
		container: info.Labels[LabelContainer],
	}
	props, err := recordProps(rec)
	if err != nil {
		return nil, fmt.Errorf("zfs: %w", err)
	}
	pm := map[string]string{"canmount": "on"}
	for _, p := range props {
		pm[p[0]] = p[1]
	}
	if kind == snapshot.KindView {
		pm["readonly"] = "on"
	}
	if quota > 0 {
		pm["quota"] = strconv.FormatUint(quota, 10)
	}
	name := z.datasetName(groupOf(kind), key)
	var d *gozfs.Dataset
	if origin == "" {
		d, err = gozfs.CreateFilesystem(name, pm)
	} else {
		d, err = (&gozfs.Dataset{Name: origin, Type: gozfs.DatasetSnapshot}).Clone(name, pm)
	}
	if err != nil {
		if isExists(err) {
			return nil, fmt.Errorf("zfs: snapshot %q: %s: %w", key, name, snapshot.ErrExists)
		}
		// The dataset may exist but not be mounted: leave nothing behind.
		if _, derr := zfsRun(ctx, "destroy", "-r", name); derr != nil && !isNotExist(derr) {
			err = errors.Join(err, fmt.Errorf("clean up: %w", derr))
		}
		return nil, fmt.Errorf("zfs: create snapshot %q as %s: %w", key, name, err)
	}
	if d.Mountpoint == "" || !filepath.IsAbs(d.Mountpoint) {
		return nil, fmt.Errorf("zfs: snapshot %q: %s has mountpoint %q", key, name, d.Mountpoint)
	}
	return z.mountsOf(kind, d.Mountpoint), nil
}

func (z *Snapshotter) mountsOf(kind snapshot.Kind, mountpoint string) []snapshot.Mount {
	opt := "rw"
	if kind == snapshot.KindView {
		opt = "ro"
	}
	return []snapshot.Mount{{Type: bindType, Source: mountpoint, Options: []string{opt}}}
}

// ensureMounted mounts the dataset of f if it is not, and returns its
// mountpoint.
func (z *Snapshotter) ensureMounted(ctx context.Context, key string, f *found) (string, error) {
	mp := f.ds.prop("mountpoint")
	if mp == "" || !filepath.IsAbs(mp) {
		return "", fmt.Errorf("snapshot %q: %s has mountpoint %q", key, f.dataset, mp)
	}
	if f.ds.prop("mounted") != "yes" {
		if _, err := zfsRun(ctx, "mount", f.dataset); err != nil && !strings.Contains(stderrOf(err), "already mounted") {
			return "", fmt.Errorf("snapshot %q: mount %s: %w", key, f.dataset, err)
		}
	}
	return mp, nil
}

// Commit turns the active snapshot key into the committed snapshot name:
// it snapshots the dataset as @layer, unmounts it and renames it to
// P/layers/<name>. The dataset must not be in use (mounted elsewhere or a
// process's working directory), or unmounting fails and nothing changes.
func (z *Snapshotter) Commit(ctx context.Context, name, key string, opts ...snapshot.Opt) error {
	if err := snapshot.ValidKey(name); err != nil {
		return fmt.Errorf("zfs: commit snapshot %q: name: %w", key, err)
	}
	if err := snapshot.ValidKey(key); err != nil {
		return fmt.Errorf("zfs: commit: %w", err)
	}
	unlock, err := z.lock(ctx)
	if err != nil {
		return fmt.Errorf("zfs: commit snapshot %q: %w", key, err)
	}
	defer unlock()
	fs, err := z.find(ctx, key, name)
	if err != nil {
		return fmt.Errorf("zfs: commit snapshot %q: %w", key, err)
	}
	f := fs[key]
	switch {
	case f.rec == nil:
		return fmt.Errorf("zfs: commit: snapshot %q: %w", key, snapshot.ErrNotFound)
	case f.rec.Kind != snapshot.KindActive:
		return fmt.Errorf("zfs: commit snapshot %q: it is %s: %w", key, f.rec.Kind, snapshot.ErrNotActive)
	case fs[name].taken:
		return fmt.Errorf("zfs: commit snapshot %q: %q: %w", key, name, snapshot.ErrExists)
	}
	info := applyOpts(f.rec.Info, opts)
	rec := &record{Info: snapshot.Info{
		Name: name, Parent: f.rec.Parent, Kind: snapshot.KindCommitted, Labels: info.Labels,
		Created: f.rec.Created, Updated: time.Now().UTC(),
	}}
	props, err := recordProps(rec)
	if err != nil {
		return fmt.Errorf("zfs: commit snapshot %q: %w", key, err)
	}
	src, dst := f.dataset, z.datasetName(groupLayers, name)
	snap := src + "@" + layerSnap
	args := append(append([]string{"snapshot"}, propArgs(props)...), snap)
	if _, err := zfsRun(ctx, args...); err != nil {
		if !isExists(err) {
			return fmt.Errorf("zfs: commit snapshot %q: %w", key, err)
		}
		// Left by a commit that was interrupted before the rename.
		if _, err := zfsRun(ctx, "destroy", snap); err != nil {
			return fmt.Errorf("zfs: commit snapshot %q: remove stale %s: %w", key, snap, err)
		}
		if _, err := zfsRun(ctx, args...); err != nil {
			return fmt.Errorf("zfs: commit snapshot %q: %w", key, err)
		}
	}
	undo := func(err error) error {
		var errs []error
		if _, e := zfsRun(ctx, "destroy", snap); e != nil {
			errs = append(errs, e)
		}
		if _, e := zfsRun(ctx, "mount", src); e != nil && !strings.Contains(stderrOf(e), "already mounted") {
			errs = append(errs, e)
		}
		if len(errs) > 0 {
			err = errors.Join(err, fmt.Errorf("undo (Check repairs what is left): %w", errors.Join(errs...)))
		}
		return err
	}
	// Unmounted before the rename, the dataset is not mounted again by it.
	if _, err := zfsRun(ctx, "unmount", src); err != nil && !strings.Contains(stderrOf(err), "not currently mounted") {
		return undo(fmt.Errorf("zfs: commit snapshot %q: unmount %s (is it still in use?): %w", key, src, err))
	}
	if _, err := zfsRun(ctx, "rename", src, dst); err != nil {
		if isExists(err) {
			err = fmt.Errorf("%w: %w", snapshot.ErrExists, err)
		}
		return undo(fmt.Errorf("zfs: commit snapshot %q as %q: %w", key, name, err))
	}
	// Committed. Set canmount=noauto, so that the layer is not mounted at
	// boot, and mirror the record on the dataset for `zfs list`; should
	// this fail, readers still use the @layer snapshot and Check redoes it.
	var have map[string]string
	if f.ds != nil {
		have = f.ds.user
	}
	steps := mirrorSteps(dst, props, have)
	steps[0].args = append([]string{"set", "canmount=noauto"}, steps[0].args[1:]...)
	_ = runSteps(ctx, steps)
	return nil
}

// Mounts returns the mounts of the active snapshot or view key: a bind
// (nullfs) mount of its mountpoint, which is mounted first if it is not.
func (z *Snapshotter) Mounts(ctx context.Context, key string) ([]snapshot.Mount, error) {
	f, err := z.lookup(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("zfs: mounts: %w", err)
	}
	if f.rec.Kind == snapshot.KindCommitted {
		return nil, fmt.Errorf("zfs: mounts of snapshot %q: it is committed: %w", key, snapshot.ErrNotActive)
	}
	mp, err := z.ensureMounted(ctx, key, f)
	if err != nil {
		return nil, fmt.Errorf("zfs: mounts: %w", err)
	}
	return z.mountsOf(f.rec.Kind, mp), nil
}

// ApplyDir returns the mountpoint of the active snapshot key. It already
// shows the parent's files, so a layer diff's deletions are plain
// deletions (snapshot.WhiteoutDelete).
func (z *Snapshotter) ApplyDir(ctx context.Context, key string) (string, snapshot.WhiteoutFormat, error) {
	f, err := z.lookup(ctx, key)
	if err != nil {
		return "", 0, fmt.Errorf("zfs: apply dir: %w", err)
	}
	if f.rec.Kind != snapshot.KindActive {
		return "", 0, fmt.Errorf("zfs: apply dir of snapshot %q: it is %s: %w", key, f.rec.Kind, snapshot.ErrNotActive)
	}
	mp, err := z.ensureMounted(ctx, key, f)
	if err != nil {
		return "", 0, fmt.Errorf("zfs: apply dir: %w", err)
	}
	return mp, snapshot.WhiteoutDelete, nil
}

// Remove destroys the snapshot key with its dataset and the dataset's own
// ZFS snapshots. A committed snapshot whose @layer snapshot has clones is
// kept, and the error wraps snapshot.ErrHasChildren and names them.
func (z *Snapshotter) Remove(ctx context.Context, key string) error {
	if err := snapshot.ValidKey(key); err != nil {
		return fmt.Errorf("zfs: remove: %w", err)
	}
	unlock, err := z.lock(ctx)
	if err != nil {
		return fmt.Errorf("zfs: remove snapshot %q: %w", key, err)
	}
	defer unlock()
	f, err := z.lookup(ctx, key)
	if err != nil {
		return fmt.Errorf("zfs: remove: %w", err)
	}
	if f.rec.Kind == snapshot.KindCommitted {
		if clones := f.snap.prop("clones"); clones != "" {
			return fmt.Errorf("zfs: snapshot %q is the parent of %s: %w", key, z.describeClones(clones), snapshot.ErrHasChildren)
		}
	}
	if err := (&gozfs.Dataset{Name: f.dataset, Type: gozfs.DatasetFilesystem}).Destroy(gozfs.DestroyRecursive); err != nil {
		if hasDependents(err) {
			return fmt.Errorf("zfs: snapshot %q (%s) has children: %w: %w", key, f.dataset, snapshot.ErrHasChildren, err)
		}
		return fmt.Errorf("zfs: remove snapshot %q (%s): %w", key, f.dataset, err)
	}
	return nil
}

// describeClones renders a clones property for an error message: the
// names of the clones under the parent dataset, the full names of others.
func (z *Snapshotter) describeClones(clones string) string {
	var out []string
	for _, c := range strings.Split(clones, ",") {
		if _, comp, _, ok := z.splitName(c); ok {
			out = append(out, strconv.Quote(comp)+" ("+c+")")
		} else {
			out = append(out, c)
		}
	}
	return strings.Join(out, ", ")
}

// Stat returns the Info of the snapshot key.
func (z *Snapshotter) Stat(ctx context.Context, key string) (snapshot.Info, error) {
	f, err := z.lookup(ctx, key)
	if err != nil {
		return snapshot.Info{}, fmt.Errorf("zfs: stat: %w", err)
	}
	return f.rec.Info, nil
}

// walkRecords reads every record under the parent dataset with one
// recursive `zfs get`, keyed by snapshot key. Records that a lookup by
// key would not find (misnamed, wrong kind for their place) are left out;
// Check reports them.
func (z *Snapshotter) walkRecords(ctx context.Context) (map[string]*found, map[string]*dsState, error) {
	states, err := getProps(ctx, true, z.group(groupLayers), z.group(groupActive), z.group(groupViews))
	if err != nil {
		return nil, nil, err
	}
	res := map[string]*found{}
	rank := map[string]int{}
	for name, st := range states {
		g, comp, snap, ok := z.splitName(name)
		if !ok {
			continue
		}
		var kind snapshot.Kind
		switch {
		case g == groupLayers && snap == layerSnap:
			kind = snapshot.KindCommitted
		case g == groupActive && snap == "":
			kind = snapshot.KindActive
		case g == groupViews && snap == "":
			kind = snapshot.KindView
		default:
			continue
		}
		r, err := parseRecord(st)
		if err != nil || r.Kind != kind || component(r.Name, z.maxComp) != comp {
			continue
		}
		// The precedence of find: committed, active, view.
		rk := map[snapshot.Kind]int{snapshot.KindCommitted: 3, snapshot.KindActive: 2, snapshot.KindView: 1}[kind]
		if rank[r.Name] >= rk {
			continue
		}
		rank[r.Name] = rk
		ds := z.dataset + "/" + g + "/" + comp
		f := &found{rec: r, dataset: ds, ds: states[ds], taken: true}
		if kind == snapshot.KindCommitted {
			f.snap = st
		}
		res[r.Name] = f
	}
	return res, states, nil
}

// Walk calls fn for every snapshot, in key order.
func (z *Snapshotter) Walk(ctx context.Context, fn func(context.Context, snapshot.Info) error) error {
	recs, _, err := z.walkRecords(ctx)
	if err != nil {
		return fmt.Errorf("zfs: walk snapshots in %s: %w", z.dataset, err)
	}
	keys := make([]string, 0, len(recs))
	for k := range recs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(ctx, recs[k].rec.Info); err != nil {
			return err
		}
	}
	return nil
}

// Usage returns the space the snapshot key holds by itself: logicalused
// of its dataset and the number of objects from `zfs userspace`. For an
// active snapshot or view the pool is synced first so that recent writes
// are counted.
func (z *Snapshotter) Usage(ctx context.Context, key string) (snapshot.Usage, error) {
	f, err := z.lookup(ctx, key)
	if err != nil {
		return snapshot.Usage{}, fmt.Errorf("zfs: usage: %w", err)
	}
	size, err := strconv.ParseInt(f.ds.prop("logicalused"), 10, 64)
	if f.rec.Kind != snapshot.KindCommitted || err != nil {
		// ZFS counts space when it writes a transaction group: sync the
		// pool so that recent writes count (best effort), and read again.
		_, _ = run(ctx, "zpool", "sync", z.pool)
		d, err := gozfs.GetDataset(f.dataset)
		if err != nil {
			return snapshot.Usage{}, fmt.Errorf("zfs: usage of snapshot %q (%s): %w", key, f.dataset, err)
		}
		size = int64(d.Logicalused)
	}
	inodes, err := z.objects(ctx, key, f)
	if err != nil {
		return snapshot.Usage{}, fmt.Errorf("zfs: usage of snapshot %q (%s): %w", key, f.dataset, err)
	}
	return snapshot.Usage{Size: size, Inodes: inodes}, nil
}

// objects counts the dataset's files, directories and other objects.
func (z *Snapshotter) objects(ctx context.Context, key string, f *found) (int64, error) {
	out, err := zfsRun(ctx, "userspace", "-Hp", "-o", "objused", f.dataset)
	if err == nil {
		n, ok := sumObjused(out)
		if ok {
			return n, nil
		}
	}
	// No userobj_accounting on this pool: count the mounted tree.
	if f.rec.Kind == snapshot.KindCommitted {
		return 0, nil
	}
	mp, merr := z.ensureMounted(ctx, key, f)
	if merr != nil {
		return 0, errors.Join(err, merr)
	}
	u, werr := storage.DiskUsage(ctx, mp)
	if werr != nil {
		return 0, werr
	}
	return u.Inodes, nil
}

// sumObjused adds up the lines of `zfs userspace -Hp -o objused`. It
// reports false when a count is missing ("-"), as on pools without the
// userobj_accounting feature.
func sumObjused(out string) (int64, bool) {
	var n int64
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		v, err := strconv.ParseInt(l, 10, 64)
		if err != nil {
			return 0, false
		}
		n += v
	}
	return n, true
}

// Close releases the snapshotter. It holds nothing open between calls;
// Close may be called more than once.
func (z *Snapshotter) Close() error { return nil }
