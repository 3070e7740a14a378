package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/stockade/stockade/internal/flock"
)

// Name prefixes of the entries of a Dirs root that are not snapshots.
const (
	// stagePrefix names a directory being prepared for a snapshot that is
	// not recorded yet. Its creator holds an exclusive flock on it.
	stagePrefix = "new-"
	// trashPrefix names a directory being deleted.
	trashPrefix = "rm-"
)

// Dirs is the on-disk layout of a directory-based snapshotter: one
// directory per snapshot, named by the snapshot's decimal id, under one
// root (for example <snapshotter root>/snapshots).
//
// A snapshot's directory is made under a temporary name (Stage) and renamed
// to its id inside the store transaction that records the snapshot
// (Staged.Install), so a crash never leaves a recorded snapshot without its
// directory nor a half-made directory under an id. Remove renames the
// directory away before deleting it. What a crash can leave behind is only
// garbage with no record, which Cleanup deletes.
type Dirs struct {
	root string
}

// NewDirs creates root if needed and returns its layout.
func NewDirs(root string) (*Dirs, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("snapshot directories: %w", err)
	}
	return &Dirs{root: root}, nil
}

// Root returns the directory holding the snapshots' directories.
func (d *Dirs) Root() string { return d.root }

// Path returns the directory of the snapshot with the given id.
func (d *Dirs) Path(id uint64) string {
	return filepath.Join(d.root, strconv.FormatUint(id, 10))
}

// Staged is a directory being prepared for a snapshot that is not recorded
// yet. While it is open its creator holds a lock on it, so that Cleanup in
// another process leaves it alone.
type Staged struct {
	d         *Dirs
	path      string
	lock      *os.File
	installed bool
}

// Stage makes a new, empty, locked directory under the root for the caller
// to fill. The caller must Close it; Install moves it into place first.
func (d *Dirs) Stage() (*Staged, error) {
	for attempt := 0; attempt < 10; attempt++ {
		p, err := os.MkdirTemp(d.root, stagePrefix)
		if err != nil {
			return nil, fmt.Errorf("stage snapshot directory: %w", err)
		}
		f, ok, err := lockDir(p)
		if err != nil {
			return nil, fmt.Errorf("stage snapshot directory %s: %w", p, err)
		}
		if !ok {
			// Cleanup in another process took it between mkdir and lock.
			continue
		}
		return &Staged{d: d, path: p, lock: f}, nil
	}
	return nil, fmt.Errorf("stage snapshot directory in %s: directories keep being removed while being made", d.root)
}

// lockDir opens p and takes an exclusive lock on it without waiting. It
// returns ok=false when p is gone or locked, or when p was renamed while
// being locked.
func lockDir(p string) (f *os.File, ok bool, err error) {
	f, err = os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, nil
		}
		return nil, false, err
	}
	locked, err := flock.TryLock(f, flock.Exclusive)
	if err != nil || !locked {
		f.Close()
		return nil, false, err
	}
	fi, err1 := f.Stat()
	li, err2 := os.Lstat(p)
	if err1 != nil || err2 != nil || !os.SameFile(fi, li) {
		f.Close()
		return nil, false, nil
	}
	return f, true, nil
}

// Path returns the staged directory's current path.
func (s *Staged) Path() string { return s.path }

// Install renames the staged directory to the directory of snapshot id.
// It is meant to be called from the fn of Store.Create, while the store's
// write lock guarantees that no recorded snapshot has that id: a directory
// already there is the garbage of a crash between rename and commit, and is
// deleted.
func (s *Staged) Install(id uint64) error {
	if s.installed {
		return fmt.Errorf("staged directory %s is already installed", s.path)
	}
	dst := s.d.Path(id)
	if _, err := os.Lstat(dst); err == nil {
		if err := s.d.trash(dst); err != nil {
			return fmt.Errorf("snapshot directory %d: remove leftover: %w", id, err)
		}
	}
	if err := os.Rename(s.path, dst); err != nil {
		return fmt.Errorf("snapshot directory %d: %w", id, err)
	}
	s.path = dst
	s.installed = true
	return nil
}

// Close releases the lock and, unless the directory was installed, deletes
// it.
func (s *Staged) Close() error {
	var err error
	if s.lock != nil {
		err = s.lock.Close()
		s.lock = nil
	}
	if !s.installed && s.path != "" {
		if e := os.RemoveAll(s.path); e != nil {
			err = errors.Join(err, e)
		}
		s.path = ""
	}
	return err
}

// trash deletes the directory p by renaming it to a trash name first, so
// that a crash mid-delete leaves an entry that Cleanup recognises.
func (d *Dirs) trash(p string) error {
	t, err := d.moveToTrash(p)
	if err != nil || t == "" {
		return err
	}
	return os.RemoveAll(t)
}

// moveToTrash renames p to a fresh trash name and returns it, or "" when p
// does not exist.
func (d *Dirs) moveToTrash(p string) (string, error) {
	var b [8]byte
	for attempt := 0; ; attempt++ {
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		t := filepath.Join(d.root, trashPrefix+hex.EncodeToString(b[:]))
		err := os.Rename(p, t)
		switch {
		case err == nil:
			return t, nil
		case errors.Is(err, fs.ErrNotExist):
			return "", nil
		case errors.Is(err, fs.ErrExist) && attempt < 10:
			continue // name taken: draw another
		default:
			return "", err
		}
	}
}

// Remove deletes the directory of snapshot id, whose record must already
// be gone from the store. A missing directory is not an error.
func (d *Dirs) Remove(id uint64) error {
	finish, err := d.RemoveDeferred(id)
	if err != nil {
		return err
	}
	return finish()
}

// RemoveDeferred is Remove in two steps: the directory of snapshot id is
// renamed to a trash name now, and finish deletes it.
func (d *Dirs) RemoveDeferred(id uint64) (finish func() error, err error) {
	t, err := d.moveToTrash(d.Path(id))
	if err != nil {
		return nil, fmt.Errorf("remove snapshot directory %d: %w", id, err)
	}
	return func() error {
		if t == "" {
			return nil
		}
		if err := os.RemoveAll(t); err != nil {
			return fmt.Errorf("remove snapshot directory %d: %w", id, err)
		}
		return nil
	}, nil
}

// Cleanup deletes what crashes left under the root: directories named by
// an id that store does not record, staged directories whose creator is
// gone (their lock is free), and trash. It holds the store's write lock only
// while it renames entries to trash; the deletion itself runs afterwards.
// Entries it does not recognise are left alone.
func (d *Dirs) Cleanup(ctx context.Context, store *Store) error {
	var trash []string
	var errs []error
	err := store.WithIDs(ctx, func(ids map[uint64]string) error {
		entries, err := os.ReadDir(d.root)
		if err != nil {
			return err
		}
		for _, e := range entries {
			name := e.Name()
			p := filepath.Join(d.root, name)
			switch {
			case strings.HasPrefix(name, trashPrefix):
				trash = append(trash, p)
			case strings.HasPrefix(name, stagePrefix):
				f, ok, err := lockDir(p)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", p, err))
					continue
				}
				if !ok {
					continue // still being made
				}
				t, err := d.moveToTrash(p)
				f.Close()
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", p, err))
				} else if t != "" {
					trash = append(trash, t)
				}
			default:
				id, err := strconv.ParseUint(name, 10, 64)
				if err != nil || strconv.FormatUint(id, 10) != name {
					continue
				}
				if _, ok := ids[id]; ok {
					continue
				}
				t, err := d.moveToTrash(p)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", p, err))
				} else if t != "" {
					trash = append(trash, t)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("clean up %s: %w", d.root, err)
	}
	for _, t := range trash {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		if err := os.RemoveAll(t); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clean up %s: %w", d.root, err)
	}
	return nil
}
