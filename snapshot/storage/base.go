package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/stockade/stockade/snapshot"
)

// Backend is what a directory snapshotter adds to Base: how it shows a
// snapshot, where a layer diff goes, and the steps of its own around
// creating, committing and removing one. Mounts is required; the other
// fields may be left empty.
type Backend struct {
	// Name prefixes the snapshotter's errors ("overlay: ...").
	Name string
	// ResolveLinks makes the root the path with its symbolic links
	// resolved, for a snapshotter that compares mount points by path.
	ResolveLinks bool
	// Check, when set, refuses a root that the snapshotter cannot use (a
	// file system without what it needs). It is called once the root
	// exists.
	Check func(root string) error
	// Mounts returns the mounts that show the active snapshot or view s,
	// whose key is key. It is called inside the store's transaction, so it
	// must not call the store. For any other kind it fails with an error
	// wrapping snapshot.ErrNotActive.
	Mounts func(key string, s Snapshot) ([]snapshot.Mount, error)
	// Whiteouts is how deletions are written into ApplyDir's directory.
	Whiteouts snapshot.WhiteoutFormat
	// ApplyDir, when set, returns the directory into which a layer diff
	// for the active snapshot s is written, instead of its fs directory.
	ApplyDir func(key string, s Snapshot) (string, error)
	// Fill, when set, fills dir, the staged directory of a new snapshot of
	// kind on parent ("" for none), before the snapshot is recorded. dir
	// already holds the empty fs directory. The function it returns, when
	// not nil, is called inside the store's transaction once the
	// snapshot's id and parent chain are known, just before dir moves into
	// place; it must not call the store. When either fails nothing is
	// recorded and dir is deleted.
	Fill func(ctx context.Context, kind snapshot.Kind, key, parent, dir string) (func(Snapshot) error, error)
	// Usage, when set, measures what snapshot id uses by itself, for Commit
	// and for Usage of an active snapshot or view. By default it is the
	// DiskUsage of the snapshot's fs directory.
	Usage func(ctx context.Context, id uint64) (snapshot.Usage, error)
	// Release, when set, is called with the id of an active snapshot
	// before Commit measures it and before Remove deletes it, to undo what
	// ApplyDir set up (a mount).
	Release func(id uint64) error
}

// Base is the part that the directory snapshotters (overlay, copy,
// unionfs) share: one directory per snapshot under <root>/snapshots (see
// Dirs), the records in a Store at <root>/metadata.db, and every method of
// snapshot.Snapshotter written once over them. A snapshotter embeds *Base,
// made by NewBase with a Backend that says what it does differently, and
// shadows a method only to add steps of its own around Base's.
//
// A snapshot's files live in the fs directory of its snapshot directory
// (FSDir); a backend may keep more beside it (overlay's work directory,
// copy's base.json).
type Base struct {
	root    string
	store   *Store
	dirs    *Dirs
	backend Backend
}

var (
	_ snapshot.Snapshotter = (*Base)(nil)
	_ snapshot.Cleaner     = (*Base)(nil)
)

// NewBase opens (creating them if needed) the root directory, the
// snapshots' directories and the store of the snapshotter whose files live
// under root.
func NewBase(ctx context.Context, root string, backend Backend) (*Base, error) {
	if backend.Mounts == nil {
		return nil, fmt.Errorf("%s snapshotter: no Mounts function", backend.Name)
	}
	if root == "" {
		return nil, fmt.Errorf("%s snapshotter: empty root", backend.Name)
	}
	fail := func(err error) (*Base, error) {
		return nil, fmt.Errorf("%s snapshotter at %s: %w", backend.Name, root, err)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return fail(err)
	}
	root = abs
	if err := os.MkdirAll(root, 0o700); err != nil {
		return fail(err)
	}
	if backend.ResolveLinks {
		if root, err = filepath.EvalSymlinks(root); err != nil {
			return fail(err)
		}
	}
	if backend.Check != nil {
		if err := backend.Check(root); err != nil {
			return fail(err)
		}
	}
	dirs, err := NewDirs(filepath.Join(root, "snapshots"))
	if err != nil {
		return fail(err)
	}
	store, err := Open(ctx, filepath.Join(root, FileName))
	if err != nil {
		return fail(err)
	}
	return &Base{root: root, store: store, dirs: dirs, backend: backend}, nil
}

// Root returns the snapshotter's root directory.
func (b *Base) Root() string { return b.root }

// Store returns the snapshotter's metadata store.
func (b *Base) Store() *Store { return b.store }

// Dirs returns the layout of the snapshots' directories.
func (b *Base) Dirs() *Dirs { return b.dirs }

// FSDir returns the directory that holds the files of snapshot id.
func (b *Base) FSDir(id uint64) string { return filepath.Join(b.dirs.Path(id), "fs") }

// errorf formats an error prefixed with the snapshotter's name.
func (b *Base) errorf(format string, a ...any) error {
	return fmt.Errorf(b.backend.Name+": "+format, a...)
}

// Prepare creates an active snapshot on top of the committed snapshot
// parent ("" for none) and returns the mounts that show it read-write.
func (b *Base) Prepare(ctx context.Context, key, parent string, opts ...snapshot.Opt) ([]snapshot.Mount, error) {
	return b.create(ctx, snapshot.KindActive, key, parent, opts)
}

// View creates a read-only snapshot of parent and returns its mounts.
func (b *Base) View(ctx context.Context, key, parent string, opts ...snapshot.Opt) ([]snapshot.Mount, error) {
	return b.create(ctx, snapshot.KindView, key, parent, opts)
}

// create makes the snapshot's directory under a staged name, lets the
// backend fill it, and records the snapshot and moves the directory into
// place in one store transaction. Keys are checked before anything else,
// so a bad key is reported as such whatever the state of ctx.
func (b *Base) create(ctx context.Context, kind snapshot.Kind, key, parent string, opts []snapshot.Opt) ([]snapshot.Mount, error) {
	if err := snapshot.ValidKey(key); err != nil {
		return nil, b.errorf("create %s snapshot: %w", kind, err)
	}
	if parent != "" {
		if err := snapshot.ValidKey(parent); err != nil {
			return nil, b.errorf("snapshot %q: parent: %w", key, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, b.errorf("snapshot %q: %w", key, err)
	}
	st, err := b.dirs.Stage()
	if err != nil {
		return nil, b.errorf("snapshot %q: %w", key, err)
	}
	defer st.Close()
	if err := os.Mkdir(filepath.Join(st.Path(), "fs"), 0o755); err != nil {
		return nil, b.errorf("snapshot %q: %w", key, err)
	}
	var install func(Snapshot) error
	if b.backend.Fill != nil {
		if install, err = b.backend.Fill(ctx, kind, key, parent, st.Path()); err != nil {
			return nil, b.errorf("snapshot %q: %w", key, err)
		}
	}
	var mounts []snapshot.Mount
	_, err = b.store.Create(ctx, kind, key, parent, opts, func(s Snapshot) error {
		m, err := b.backend.Mounts(key, s)
		if err != nil {
			return err
		}
		if install != nil {
			if err := install(s); err != nil {
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
		return nil, b.errorf("%w", err)
	}
	return mounts, nil
}

// usage measures what snapshot id uses by itself.
func (b *Base) usage(ctx context.Context, id uint64) (snapshot.Usage, error) {
	if b.backend.Usage != nil {
		return b.backend.Usage(ctx, id)
	}
	return DiskUsage(ctx, b.FSDir(id))
}

// Commit turns the active snapshot key into the committed snapshot name,
// keeping its directory, and records its usage.
func (b *Base) Commit(ctx context.Context, name, key string, opts ...snapshot.Opt) error {
	if err := snapshot.ValidKey(name); err != nil {
		return b.errorf("commit snapshot %q: name: %w", key, err)
	}
	s, err := b.store.GetSnapshot(ctx, key)
	if err != nil {
		return b.errorf("commit: %w", err)
	}
	if s.Kind != snapshot.KindActive {
		return b.errorf("commit snapshot %q: it is %s: %w", key, s.Kind, snapshot.ErrNotActive)
	}
	if b.backend.Release != nil {
		if err := b.backend.Release(s.ID); err != nil {
			return b.errorf("commit snapshot %q: %w", key, err)
		}
	}
	u, err := b.usage(ctx, s.ID)
	if err != nil {
		return b.errorf("commit snapshot %q: %w", key, err)
	}
	if _, err := b.store.Commit(ctx, key, name, u, opts...); err != nil {
		return b.errorf("%w", err)
	}
	return nil
}

// Mounts returns the mounts of the active snapshot or view key.
func (b *Base) Mounts(ctx context.Context, key string) ([]snapshot.Mount, error) {
	s, err := b.store.GetSnapshot(ctx, key)
	if err != nil {
		return nil, b.errorf("mounts: %w", err)
	}
	m, err := b.backend.Mounts(key, s)
	if err != nil {
		return nil, b.errorf("mounts: %w", err)
	}
	return m, nil
}

// Remove deletes the snapshot key: first its record, then its directory.
// It fails with an error wrapping snapshot.ErrHasChildren while another
// snapshot has key as parent. If the directory cannot be deleted the record
// is gone all the same, and Cleanup deletes the directory later.
func (b *Base) Remove(ctx context.Context, key string) error {
	finish, err := b.RemoveDeferred(ctx, key)
	if err != nil {
		return err
	}
	if err := finish(); err != nil {
		return b.errorf("snapshot %q was removed but its files were not (Cleanup will retry): %w", key, err)
	}
	return nil
}

// RemoveDeferred is Remove but for the deletion of the directory, which
// finish does (snapshot.DeferredRemover): the record is gone and the
// directory renamed to trash when it returns.
func (b *Base) RemoveDeferred(ctx context.Context, key string) (finish func() error, err error) {
	if b.backend.Release != nil {
		rec, err := b.store.Stat(ctx, key)
		if err != nil {
			return nil, b.errorf("%w", err)
		}
		if rec.Kind == snapshot.KindActive {
			if err := b.backend.Release(rec.ID); err != nil {
				return nil, b.errorf("remove snapshot %q: %w", key, err)
			}
		}
	}
	rec, err := b.store.Remove(ctx, key)
	if err != nil {
		return nil, b.errorf("%w", err)
	}
	finish, err = b.dirs.RemoveDeferred(rec.ID)
	if err != nil {
		return nil, b.errorf("snapshot %q was removed but its files were not (Cleanup will retry): %w", key, err)
	}
	return finish, nil
}

// Stat returns the Info of the snapshot key.
func (b *Base) Stat(ctx context.Context, key string) (snapshot.Info, error) {
	rec, err := b.store.Stat(ctx, key)
	if err != nil {
		return snapshot.Info{}, b.errorf("stat: %w", err)
	}
	return rec.Info, nil
}

// Walk calls fn for every snapshot, in key order.
func (b *Base) Walk(ctx context.Context, fn func(context.Context, snapshot.Info) error) error {
	return b.store.Walk(ctx, func(ctx context.Context, r Record) error {
		return fn(ctx, r.Info)
	})
}

// Usage returns the space the snapshot key uses by itself: the usage
// recorded at commit for a committed snapshot, or a measure of its
// directory for an active one or a view.
func (b *Base) Usage(ctx context.Context, key string) (snapshot.Usage, error) {
	rec, err := b.store.Stat(ctx, key)
	if err != nil {
		return snapshot.Usage{}, b.errorf("usage: %w", err)
	}
	if rec.Kind == snapshot.KindCommitted {
		return rec.Usage, nil
	}
	u, err := b.usage(ctx, rec.ID)
	if err != nil {
		return snapshot.Usage{}, b.errorf("usage of snapshot %q: %w", key, err)
	}
	return u, nil
}

// ApplyDir returns the directory into which a layer diff for the active
// snapshot key is written, and how deletions are written there.
func (b *Base) ApplyDir(ctx context.Context, key string) (string, snapshot.WhiteoutFormat, error) {
	s, err := b.store.GetSnapshot(ctx, key)
	if err != nil {
		return "", 0, b.errorf("apply dir: %w", err)
	}
	if s.Kind != snapshot.KindActive {
		return "", 0, b.errorf("apply dir of snapshot %q: it is %s: %w", key, s.Kind, snapshot.ErrNotActive)
	}
	if b.backend.ApplyDir == nil {
		return b.FSDir(s.ID), b.backend.Whiteouts, nil
	}
	dir, err := b.backend.ApplyDir(key, s)
	if err != nil {
		return "", 0, b.errorf("apply dir of snapshot %q: %w", key, err)
	}
	return dir, b.backend.Whiteouts, nil
}

// Cleanup deletes the directories that belong to no snapshot: those left
// by a crash during Prepare, View or Remove. It is safe to run while other
// processes use the snapshotter.
func (b *Base) Cleanup(ctx context.Context) error {
	if err := b.dirs.Cleanup(ctx, b.store); err != nil {
		return b.errorf("%w", err)
	}
	return nil
}

// Close releases the snapshotter. It holds no open files between calls, so
// Close only exists to satisfy snapshot.Snapshotter; it may be called more
// than once.
func (b *Base) Close() error { return nil }
