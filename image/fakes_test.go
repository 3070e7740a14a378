package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stockade/stockade/snapshot"
)

// fakeSnapshotter is a copy snapshotter kept entirely in the file system
// (so several processes can share it): <root>/<key>/info.json and
// <root>/<key>/fs. Prepare copies the parent's tree (WhiteoutDelete), and
// Commit renames the directory, which fails when the name exists.
// It stands in until the real overlay snapshotter (package linux) exists.
type fakeSnapshotter struct {
	root string
	// noCopy skips copying the parent in Prepare (benchmarks).
	noCopy bool
}

var _ snapshot.Snapshotter = (*fakeSnapshotter)(nil)

func newFakeSnapshotter(root string) *fakeSnapshotter {
	os.MkdirAll(root, 0o755)
	return &fakeSnapshotter{root: root}
}

func (f *fakeSnapshotter) dir(key string) string { return filepath.Join(f.root, key) }

func (f *fakeSnapshotter) readInfo(key string) (snapshot.Info, error) {
	var info snapshot.Info
	data, err := os.ReadFile(filepath.Join(f.dir(key), "info.json"))
	if errors.Is(err, os.ErrNotExist) {
		return info, fmt.Errorf("%s: %w", key, snapshot.ErrNotFound)
	}
	if err != nil {
		return info, err
	}
	return info, json.Unmarshal(data, &info)
}

func (f *fakeSnapshotter) writeInfo(dir string, info snapshot.Info) error {
	data, _ := json.Marshal(info)
	return os.WriteFile(filepath.Join(dir, "info.json"), data, 0o644)
}

func (f *fakeSnapshotter) create(key, parent string, kind snapshot.Kind, opts []snapshot.Opt) ([]snapshot.Mount, error) {
	if err := snapshot.ValidKey(key); err != nil {
		return nil, err
	}
	if parent != "" {
		pi, err := f.readInfo(parent)
		if err != nil {
			return nil, err
		}
		if pi.Kind != snapshot.KindCommitted {
			return nil, fmt.Errorf("parent %s: %w", parent, snapshot.ErrNotCommitted)
		}
	}
	tmp, err := os.MkdirTemp(f.root, ".tmp-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := os.Mkdir(filepath.Join(tmp, "fs"), 0o755); err != nil {
		return nil, err
	}
	if parent != "" && !f.noCopy {
		if err := copyTree(filepath.Join(f.dir(parent), "fs"), filepath.Join(tmp, "fs")); err != nil {
			return nil, err
		}
	}
	info := snapshot.Info{Name: key, Parent: parent, Kind: kind, Created: time.Now(), Updated: time.Now()}
	for _, o := range opts {
		o(&info)
	}
	if err := f.writeInfo(tmp, info); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, f.dir(key)); err != nil {
		return nil, fmt.Errorf("%s: %w", key, snapshot.ErrExists)
	}
	return []snapshot.Mount{{Type: "bind", Source: filepath.Join(f.dir(key), "fs")}}, nil
}

func (f *fakeSnapshotter) Prepare(ctx context.Context, key, parent string, opts ...snapshot.Opt) ([]snapshot.Mount, error) {
	return f.create(key, parent, snapshot.KindActive, opts)
}

func (f *fakeSnapshotter) View(ctx context.Context, key, parent string, opts ...snapshot.Opt) ([]snapshot.Mount, error) {
	return f.create(key, parent, snapshot.KindView, opts)
}

func (f *fakeSnapshotter) Commit(ctx context.Context, name, key string, opts ...snapshot.Opt) error {
	if err := snapshot.ValidKey(name); err != nil {
		return err
	}
	info, err := f.readInfo(key)
	if err != nil {
		return err
	}
	if info.Kind != snapshot.KindActive {
		return fmt.Errorf("%s: %w", key, snapshot.ErrNotActive)
	}
	if _, err := os.Stat(f.dir(name)); err == nil {
		return fmt.Errorf("%s: %w", name, snapshot.ErrExists)
	}
	info.Name, info.Kind, info.Updated = name, snapshot.KindCommitted, time.Now()
	for _, o := range opts {
		o(&info)
	}
	if err := f.writeInfo(f.dir(key), info); err != nil {
		return err
	}
	if err := os.Rename(f.dir(key), f.dir(name)); err != nil {
		return fmt.Errorf("%s: %w", name, snapshot.ErrExists)
	}
	return nil
}

func (f *fakeSnapshotter) Mounts(ctx context.Context, key string) ([]snapshot.Mount, error) {
	if _, err := f.readInfo(key); err != nil {
		return nil, err
	}
	return []snapshot.Mount{{Type: "bind", Source: filepath.Join(f.dir(key), "fs")}}, nil
}

func (f *fakeSnapshotter) Remove(ctx context.Context, key string) error {
	if _, err := f.readInfo(key); err != nil {
		return err
	}
	var children bool
	f.Walk(ctx, func(_ context.Context, i snapshot.Info) error {
		if i.Parent == key {
			children = true
		}
		return nil
	})
	if children {
		return fmt.Errorf("%s: %w", key, snapshot.ErrHasChildren)
	}
	tmp := filepath.Join(f.root, ".rm-"+key+"-"+randomHex(4))
	if err := os.Rename(f.dir(key), tmp); err != nil {
		return err
	}
	return os.RemoveAll(tmp)
}

func (f *fakeSnapshotter) Stat(ctx context.Context, key string) (snapshot.Info, error) {
	return f.readInfo(key)
}

func (f *fakeSnapshotter) Walk(ctx context.Context, fn func(context.Context, snapshot.Info) error) error {
	entries, err := os.ReadDir(f.root)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		info, err := f.readInfo(e.Name())
		if err != nil {
			continue
		}
		if err := fn(ctx, info); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeSnapshotter) Usage(ctx context.Context, key string) (snapshot.Usage, error) {
	return snapshot.Usage{}, nil
}

func (f *fakeSnapshotter) ApplyDir(ctx context.Context, key string) (string, snapshot.WhiteoutFormat, error) {
	if _, err := f.readInfo(key); err != nil {
		return "", 0, err
	}
	return filepath.Join(f.dir(key), "fs"), snapshot.WhiteoutDelete, nil
}

func (f *fakeSnapshotter) Close() error { return nil }

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, fi.Mode().Perm())
		case fi.Mode()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		default:
			in, err := os.Open(p)
			if err != nil {
				return err
			}
			defer in.Close()
			out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fi.Mode().Perm())
			if err != nil {
				return err
			}
			_, err = io.Copy(out, in)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			return err
		}
	})
}
