// Package snapshot defines the Snapshotter interface that every storage
// backend of stockade implements (overlay on Linux, zfs, unionfs and copy),
// and the small value types that travel through it.
//
// The model is containerd's: a snapshot is identified by a key. Prepare
// creates an active (writable) snapshot on top of an optional committed
// parent; Commit turns an active snapshot into a committed one under a new
// name; View creates a read-only active snapshot. Committed snapshots form
// chains through their parents, and a snapshot cannot be removed while
// another one names it as parent.
package snapshot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind tells what state a snapshot is in.
type Kind int

// The kinds of snapshot.
const (
	KindUnknown Kind = iota
	// KindView is a read-only snapshot made by View.
	KindView
	// KindActive is a writable snapshot made by Prepare.
	KindActive
	// KindCommitted is an immutable snapshot made by Commit; it can be a parent.
	KindCommitted
)

// String returns the lower-case name of the kind.
func (k Kind) String() string {
	switch k {
	case KindView:
		return "view"
	case KindActive:
		return "active"
	case KindCommitted:
		return "committed"
	default:
		return "unknown"
	}
}

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, error) {
	switch s {
	case "view":
		return KindView, nil
	case "active":
		return KindActive, nil
	case "committed":
		return KindCommitted, nil
	}
	return KindUnknown, fmt.Errorf("unknown snapshot kind %q", s)
}

// Info describes one snapshot.
type Info struct {
	// Name is the key of an active snapshot or the name of a committed one.
	Name string `json:"name"`
	// Parent is the name of the committed parent, empty for a base layer.
	Parent string `json:"parent,omitempty"`
	// Kind is the snapshot's state.
	Kind Kind `json:"kind"`
	// Labels are free-form key/value pairs set by the caller.
	Labels map[string]string `json:"labels,omitempty"`
	// Created and Updated are the times of creation and last change.
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// Usage is the space a snapshot uses on its own, without its parents.
type Usage struct {
	// Size is the number of bytes used.
	Size int64 `json:"size"`
	// Inodes is the number of inodes used.
	Inodes int64 `json:"inodes"`
}

// Add adds u2 to u.
func (u *Usage) Add(u2 Usage) {
	u.Size += u2.Size
	u.Inodes += u2.Inodes
}

// Mount is one mount(2)/nmount(2) call that makes a snapshot visible at a
// target chosen by the caller.
type Mount struct {
	// Type is the file system type: "overlay", "bind", "nullfs", "zfs", "unionfs".
	Type string `json:"type"`
	// Source is the device, dataset or directory to mount.
	Source string `json:"source"`
	// Options are the mount options, such as "ro" or "lowerdir=...".
	Options []string `json:"options,omitempty"`
}

// ReadOnly reports whether the mount carries the "ro" option.
func (m Mount) ReadOnly() bool {
	for _, o := range m.Options {
		if o == "ro" {
			return true
		}
	}
	return false
}

// String renders the mount the way mount(8) would be called, for logs.
func (m Mount) String() string {
	return fmt.Sprintf("%s %s (%s)", m.Type, m.Source, strings.Join(m.Options, ","))
}

// WhiteoutFormat tells how a layer's deletions must be written into an
// active snapshot's directory by the tar applier.
type WhiteoutFormat int

// The whiteout formats.
const (
	// WhiteoutDelete removes the whited-out path: for snapshotters whose
	// active directory already shows the parent's content (zfs clones, copy).
	WhiteoutDelete WhiteoutFormat = iota
	// WhiteoutOverlay writes overlayfs whiteouts (0/0 character devices and
	// the trusted.overlay.opaque xattr) into an upper directory.
	WhiteoutOverlay
)

// Opt sets optional values on Prepare, View and Commit.
type Opt func(*Info)

// WithLabels merges labels into the snapshot's labels.
func WithLabels(labels map[string]string) Opt {
	return func(i *Info) {
		if i.Labels == nil {
			i.Labels = make(map[string]string, len(labels))
		}
		for k, v := range labels {
			i.Labels[k] = v
		}
	}
}

// Snapshotter stores layered file systems.
//
// Implementations must be safe for concurrent use by several goroutines and
// several processes sharing the same root.
type Snapshotter interface {
	// Prepare creates an active snapshot identified by key on top of the
	// committed snapshot parent ("" for none) and returns the mounts that
	// show it read-write.
	Prepare(ctx context.Context, key, parent string, opts ...Opt) ([]Mount, error)
	// View creates a read-only active snapshot of parent.
	View(ctx context.Context, key, parent string, opts ...Opt) ([]Mount, error)
	// Commit turns the active snapshot key into the committed snapshot name.
	// The key no longer exists afterwards.
	Commit(ctx context.Context, name, key string, opts ...Opt) error
	// Mounts returns the mounts of an active or view snapshot.
	Mounts(ctx context.Context, key string) ([]Mount, error)
	// Remove deletes a snapshot. It fails with ErrHasChildren while another
	// snapshot names it as parent.
	Remove(ctx context.Context, key string) error
	// Stat returns the snapshot's Info, or an error wrapping ErrNotFound.
	Stat(ctx context.Context, key string) (Info, error)
	// Walk calls fn for every snapshot, in no particular order.
	Walk(ctx context.Context, fn func(context.Context, Info) error) error
	// Usage returns the space the snapshot uses by itself.
	Usage(ctx context.Context, key string) (Usage, error)
	// ApplyDir returns the directory into which a layer diff for the active
	// snapshot key is written, and how deletions are to be written there.
	ApplyDir(ctx context.Context, key string) (string, WhiteoutFormat, error)
	// Close releases the snapshotter's resources.
	Close() error
}

// Errors that snapshotters wrap so callers can test them with errors.Is.
var (
	ErrNotFound     = errors.New("snapshot not found")
	ErrExists       = errors.New("snapshot already exists")
	ErrHasChildren  = errors.New("snapshot has children")
	ErrNotActive    = errors.New("snapshot is not active")
	ErrNotCommitted = errors.New("snapshot is not committed")
	ErrInvalidKey   = errors.New("invalid snapshot key")
)

// ValidKey checks that a key or name can be used as a file or dataset name
// component: non-empty, at most 255 bytes, and made of [A-Za-z0-9._:-] only,
// not starting with a dot.
func ValidKey(key string) error {
	if key == "" || len(key) > 255 || key[0] == '.' {
		return fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	for _, c := range key {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '.', c == '_', c == ':', c == '-':
		default:
			return fmt.Errorf("%w: %q", ErrInvalidKey, key)
		}
	}
	return nil
}
