// Package layer finds what changed between two file trees and writes that
// change as an OCI image layer: the machinery under `stockade diff`,
// `stockade commit` and every step of `stockade build`.
//
// Changes come from one of two sources. Compare walks two directories side
// by side (a container's root against its image's, on snapshotters that
// show whole trees: zfs, unionfs, copy). OverlayChanges reads an overlayfs
// upper directory, where the kernel already recorded what a container
// wrote, deleted (whiteouts) and replaced (opaque directories), against
// the lower directories it covers. Write turns a list of changes into an
// uncompressed layer tar that the applier of package image/archive applies
// back into the same tree.
package layer

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Kind is what happened to a path.
type Kind int

// The kinds of change.
const (
	// Add is a path that the lower tree does not have.
	Add Kind = iota
	// Modify is a path both trees have, with different content,
	// metadata or type.
	Modify
	// Delete is a path only the lower tree has.
	Delete
)

// String returns the letter `docker diff` prints for the kind: A, C or D.
func (k Kind) String() string {
	switch k {
	case Add:
		return "A"
	case Modify:
		return "C"
	case Delete:
		return "D"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// MarshalText writes the kind as its letter.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind written by MarshalText.
func (k *Kind) UnmarshalText(b []byte) error {
	switch string(b) {
	case "A":
		*k = Add
	case "C":
		*k = Modify
	case "D":
		*k = Delete
	default:
		return fmt.Errorf("unknown change kind %q", b)
	}
	return nil
}

// Change is one changed path.
type Change struct {
	// Kind is what happened.
	Kind Kind `json:"kind"`
	// Path is absolute inside the tree, e.g. "/etc/hosts".
	Path string `json:"path"`
	// Opaque marks a directory whose content was replaced wholesale (an
	// overlay-opaque directory): nothing of the lower tree below it shows
	// through, and Write says so with a ".wh..wh..opq" entry.
	Opaque bool `json:"opaque,omitempty"`
}

// String renders the change as `docker diff` prints it: "A /path".
func (c Change) String() string { return c.Kind.String() + " " + c.Path }

// pathLess orders paths component by component, so that a directory comes
// right before its own children ("/a", "/a/b", "/a-b"), as a walk of the
// tree meets them.
func pathLess(a, b string) int {
	return strings.Compare(strings.ReplaceAll(a, "/", "\x00"), strings.ReplaceAll(b, "/", "\x00"))
}

// Sort orders changes by path, parents before their children.
func Sort(changes []Change) {
	slices.SortStableFunc(changes, func(x, y Change) int { return pathLess(x.Path, y.Path) })
}

// withParents returns changes plus a Modify of the parent directory of
// every added or deleted path when it is not listed yet (except "/"),
// sorted: what `docker diff` prints, and what a layer needs to carry the
// parent's new modification time.
func withParents(changes []Change) []Change {
	listed := make(map[string]bool, len(changes))
	for _, c := range changes {
		listed[c.Path] = true
	}
	out := changes
	for _, c := range changes {
		if c.Kind == Modify {
			continue
		}
		if p := path.Dir(c.Path); p != "/" && !listed[p] {
			listed[p] = true
			out = append(out, Change{Kind: Modify, Path: p})
		}
	}
	Sort(out)
	return out
}
