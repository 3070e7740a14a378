package layer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// File type bits of st_mode, the same on Linux and FreeBSD.
const (
	sIFMT   = 0o170000
	sIFDIR  = 0o040000
	sIFREG  = 0o100000
	sIFLNK  = 0o120000
	sIFCHR  = 0o020000
	sIFBLK  = 0o060000
	sIFIFO  = 0o010000
	sIFSOCK = 0o140000
)

// meta is what Compare and Write read of a node.
type meta struct {
	mode     uint32 // st_mode: type and permission bits
	uid, gid uint32
	rdev     uint64
	size     int64
	mtime    int64 // nanoseconds since the epoch
	dev, ino uint64
	nlink    uint64
}

func (m meta) typ() uint32  { return m.mode & sIFMT }
func (m meta) isDir() bool  { return m.typ() == sIFDIR }
func (m meta) perm() uint32 { return m.mode &^ sIFMT }

// Option tunes Compare and OverlayChanges.
type Option func(*options)

type options struct {
	exclude map[string]bool
}

// Exclude leaves the given absolute paths (and what is below them) out of
// the changes, and does not count them as a reason to list their parent:
// the mount points a runtime makes in a container's root (/etc/hosts,
// /proc, ...), which are not the container's own changes.
func Exclude(paths ...string) Option {
	return func(o *options) {
		if o.exclude == nil {
			o.exclude = map[string]bool{}
		}
		for _, p := range paths {
			o.exclude[path.Clean("/"+p)] = true
		}
	}
}

func makeOptions(opts []Option) options {
	var o options
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Compare walks lower and upper side by side and returns what changed
// from lower to upper, sorted by path with parents before children. An
// empty lower means the empty tree: everything in upper is added.
//
// A path only upper has is an Add (and so is everything below it); a path
// only lower has is a Delete (its children are not listed: deleting the
// directory deletes them); a path both have is a Modify when its type,
// permissions, owner, device number, extended attributes or symbolic link
// target differ, or, except for directories, its size or modification
// time does: content is not read, as `docker diff` does not. The parent
// of an added or deleted path is listed as modified, as docker lists it.
func Compare(ctx context.Context, lower, upper string, opts ...Option) ([]Change, error) {
	c := &comparer{ctx: ctx, lower: lower, upper: upper, opts: makeOptions(opts)}
	if err := c.dir("/", lower != ""); err != nil {
		return nil, fmt.Errorf("compare %s with %s: %w", upper, lower, err)
	}
	return withParents(c.changes), nil
}

type comparer struct {
	ctx          context.Context
	lower, upper string
	opts         options
	changes      []Change
	n            int
}

func (c *comparer) add(k Kind, p string) { c.changes = append(c.changes, Change{Kind: k, Path: p}) }

// readNames returns the sorted names in directory dir.
func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}

// dir compares the directory rel of upper with the same one of lower
// (which exists and is a directory when inLower).
func (c *comparer) dir(rel string, inLower bool) error {
	if c.n++; c.n%256 == 0 {
		if err := c.ctx.Err(); err != nil {
			return err
		}
	}
	un, err := readNames(filepath.Join(c.upper, rel))
	if err != nil {
		return err
	}
	var ln []string
	if inLower {
		if ln, err = readNames(filepath.Join(c.lower, rel)); err != nil {
			return err
		}
	}
	i, j := 0, 0
	for i < len(un) || j < len(ln) {
		switch {
		case j == len(ln) || (i < len(un) && un[i] < ln[j]):
			if err := c.added(path.Join(rel, un[i])); err != nil {
				return err
			}
			i++
		case i == len(un) || ln[j] < un[i]:
			if p := path.Join(rel, ln[j]); !c.opts.exclude[p] {
				c.add(Delete, p)
			}
			j++
		default:
			if err := c.both(path.Join(rel, un[i])); err != nil {
				return err
			}
			i++
			j++
		}
	}
	return nil
}

// added records p, only in upper, and everything below it as added.
func (c *comparer) added(p string) error {
	if c.opts.exclude[p] {
		return nil
	}
	m, err := lstat(filepath.Join(c.upper, p))
	if err != nil {
		return err
	}
	c.add(Add, p)
	if m.isDir() {
		return c.dir(p, false)
	}
	return nil
}

// both compares p, which both trees have.
func (c *comparer) both(p string) error {
	if c.opts.exclude[p] {
		return nil
	}
	lp, up := filepath.Join(c.lower, p), filepath.Join(c.upper, p)
	lm, err := lstat(lp)
	if err != nil {
		return err
	}
	um, err := lstat(up)
	if err != nil {
		return err
	}
	if lm.typ() != um.typ() {
		c.add(Modify, p)
		if um.isDir() {
			return c.dir(p, false)
		}
		return nil
	}
	changed, err := differ(lp, up, lm, um)
	if err != nil {
		return err
	}
	if changed {
		c.add(Modify, p)
	}
	if um.isDir() {
		return c.dir(p, true)
	}
	return nil
}

// differ tells whether two nodes of the same type differ, by metadata
// (see Compare).
func differ(lp, up string, lm, um meta) (bool, error) {
	if lm.mode != um.mode || lm.uid != um.uid || lm.gid != um.gid || lm.rdev != um.rdev {
		return true, nil
	}
	if !lm.isDir() && (lm.size != um.size || lm.mtime != um.mtime) {
		return true, nil
	}
	if lm.typ() == sIFLNK {
		lt, err := os.Readlink(lp)
		if err != nil {
			return false, err
		}
		ut, err := os.Readlink(up)
		if err != nil {
			return false, err
		}
		if lt != ut {
			return true, nil
		}
	}
	lx, err := readXattrs(lp, -1)
	if err != nil {
		return false, err
	}
	ux, err := readXattrs(up, -1)
	if err != nil {
		return false, err
	}
	return !maps.Equal(lx, ux), nil
}

// keepXattr tells which extended attributes a layer carries: those the
// applier of image/archive sets (user.*, trusted.*, security.capability),
// without overlayfs' own (trusted.overlay.*, user.overlay.*).
func keepXattr(name string) bool {
	switch {
	case strings.HasPrefix(name, "user.overlay."), strings.HasPrefix(name, "trusted.overlay."):
		return false
	case strings.HasPrefix(name, "user."), strings.HasPrefix(name, "trusted."):
		return true
	}
	return name == "security.capability"
}

// notExist tells whether err says a path (or one of its parents) is not
// there.
func notExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || isNotDir(err)
}
