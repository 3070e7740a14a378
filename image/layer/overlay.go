package layer

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// OverlayChanges returns the changes an overlayfs upper directory records
// against its lower directories (lowers[0] is the topmost, as in the
// lowerdir= mount option), sorted by path with parents before children.
//
// The lower directories are read as overlayfs merges them: a whiteout
// (a 0/0 character device) hides a path of the layers below, an opaque
// directory (xattr trusted.overlay.opaque or user.overlay.opaque = "y")
// hides what they have below it. In upper, a whiteout of a path the
// lowers show is a Delete; a path the lowers do not show is an Add, and
// everything below it too; a file, link or device the lowers show too is a
// Modify (overlayfs only copies a file up to change it); a directory the
// lowers show too is a Modify when its permissions, owner or extended
// attributes differ, or when it is opaque — then it comes with
// Opaque set and a Delete for each of the lowers' entries in it that upper
// does not have. The parent of an added or deleted path is listed as
// modified, as `docker diff` lists it.
func OverlayChanges(ctx context.Context, upper string, lowers []string, opts ...Option) ([]Change, error) {
	o := &overlay{ctx: ctx, upper: upper, lowers: lowers, opts: makeOptions(opts), state: map[stateKey]nodeState{}}
	if err := o.dir("/", false); err != nil {
		return nil, fmt.Errorf("overlay changes of %s: %w", upper, err)
	}
	return withParents(o.changes), nil
}

// ErrOverlayFeature is wrapped by the error of OverlayChanges for an upper
// directory written with redirect_dir or metacopy on, whose renamed
// directories and data-less files it cannot follow.
var ErrOverlayFeature = errors.New("overlayfs feature not supported by layer diffs")

type overlay struct {
	ctx     context.Context
	upper   string
	lowers  []string
	opts    options
	changes []Change
	n       int
	state   map[stateKey]nodeState
}

// nodeState is what a directory path is in one lower layer.
type nodeState int

const (
	stAbsent nodeState = iota
	stDir
	stOpaqueDir
	stOther // a file, link, device or whiteout: nothing below it shows
)

type stateKey struct {
	layer int
	path  string
}

func isWhiteout(m meta) bool { return m.typ() == sIFCHR && m.rdev == 0 }

// ancestorState returns the state of directory a in lower layer l.
func (o *overlay) ancestorState(l int, a string) (nodeState, error) {
	k := stateKey{l, a}
	if s, ok := o.state[k]; ok {
		return s, nil
	}
	p := filepath.Join(o.lowers[l], a)
	m, err := lstat(p)
	var s nodeState
	switch {
	case notExist(err):
		s = stAbsent
	case err != nil:
		return 0, err
	case !m.isDir():
		s = stOther
	case overlayOpaque(p):
		s = stOpaqueDir
	default:
		s = stDir
	}
	o.state[k] = s
	return s, nil
}

// resolve finds p in the merged lower layers. For a directory it returns
// every layer that contributes entries to it, topmost first; for anything
// else the one layer it comes from.
func (o *overlay) resolve(p string) (m meta, layers []int, err error) {
	var comps []string
	if p != "/" {
		comps = strings.Split(strings.TrimPrefix(p, "/"), "/")
	}
	found := false
layer:
	for l := range o.lowers {
		stop := false // an opaque ancestor or p itself hides the layers below
		a := "/"
		for _, c := range comps[:max(len(comps)-1, 0)] {
			a = path.Join(a, c)
			s, err := o.ancestorState(l, a)
			if err != nil {
				return meta{}, nil, err
			}
			switch s {
			case stAbsent:
				if stop {
					break layer
				}
				continue layer
			case stOther:
				break layer
			case stOpaqueDir:
				stop = true
			}
		}
		lp := filepath.Join(o.lowers[l], p)
		lm, err := lstat(lp)
		switch {
		case notExist(err):
			if stop {
				break layer
			}
			continue
		case err != nil:
			return meta{}, nil, err
		case isWhiteout(lm):
			break layer
		}
		if !found {
			m, found = lm, true
		}
		if !lm.isDir() {
			if len(layers) == 0 {
				layers = append(layers, l)
			}
			break
		}
		if !m.isDir() {
			break
		}
		layers = append(layers, l)
		if stop || overlayOpaque(lp) {
			break
		}
	}
	return m, layers, nil
}

// lowerNames returns the names the merged lowers show in directory p,
// which comes from layers.
func (o *overlay) lowerNames(p string, layers []int) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, l := range layers {
		names, err := readNames(filepath.Join(o.lowers[l], p))
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if seen[n] {
				continue
			}
			seen[n] = true
			m, err := lstat(filepath.Join(o.lowers[l], p, n))
			if err != nil {
				return nil, err
			}
			if !isWhiteout(m) {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// dir reads the directory rel of upper; hidden tells that the lowers do
// not show through it (it is new, opaque or replaces a non-directory).
func (o *overlay) dir(rel string, hidden bool) error {
	if o.n++; o.n%256 == 0 {
		if err := o.ctx.Err(); err != nil {
			return err
		}
	}
	names, err := readNames(filepath.Join(o.upper, rel))
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := o.entry(path.Join(rel, n), hidden); err != nil {
			return err
		}
	}
	return nil
}

func (o *overlay) add(c Change) { o.changes = append(o.changes, c) }

// entry handles one path of upper.
func (o *overlay) entry(p string, hidden bool) error {
	if o.opts.exclude[p] {
		return nil
	}
	up := filepath.Join(o.upper, p)
	um, err := lstat(up)
	if err != nil {
		return err
	}
	if !isWhiteout(um) && (um.isDir() || um.typ() == sIFREG) {
		if x := overlayRedirect(up); x != "" {
			return fmt.Errorf("%w: %s has %s (mount overlayfs with redirect_dir=off and metacopy=off)", ErrOverlayFeature, p, x)
		}
	}
	var lm meta
	var layers []int
	if !hidden {
		if lm, layers, err = o.resolve(p); err != nil {
			return err
		}
	}
	inLower := len(layers) > 0
	switch {
	case isWhiteout(um):
		if inLower {
			o.add(Change{Kind: Delete, Path: p})
		}
		return nil
	case !inLower:
		o.add(Change{Kind: Add, Path: p})
		if um.isDir() {
			return o.dir(p, true)
		}
		return nil
	case !um.isDir():
		o.add(Change{Kind: Modify, Path: p})
		return nil
	case !lm.isDir():
		// A directory over a lower file: overlayfs shows nothing below.
		o.add(Change{Kind: Modify, Path: p})
		return o.dir(p, true)
	}
	if overlayOpaque(up) {
		o.add(Change{Kind: Modify, Path: p, Opaque: true})
		lower, err := o.lowerNames(p, layers)
		if err != nil {
			return err
		}
		upperNames, err := readNames(up)
		if err != nil {
			return err
		}
		for _, n := range lower {
			if _, ok := slices.BinarySearch(upperNames, n); !ok && !o.opts.exclude[path.Join(p, n)] {
				o.add(Change{Kind: Delete, Path: path.Join(p, n)})
			}
		}
		return o.dir(p, true)
	}
	changed, err := differ(filepath.Join(o.lowers[layers[0]], p), up, lm, um)
	if err != nil {
		return err
	}
	if changed {
		o.add(Change{Kind: Modify, Path: p})
	}
	return o.dir(p, false)
}
