// Package archive applies OCI layer tar streams to a directory without ever
// creating, linking, following or deleting anything outside that directory.
//
// Every path of the layer is resolved from a file descriptor on the root
// directory, one component at a time, with openat(O_NOFOLLOW|O_DIRECTORY).
// A symbolic link met on the way is read and its target is interpreted as if
// root were "/" (absolute targets restart at root, ".." never climbs above
// root), like cyphar/filepath-securejoin does. The final component of an
// entry is then created, linked, removed or changed with the *at system
// calls relative to the descriptor of its parent, and is never followed.
package archive

import (
	"context"
	"errors"
	"io"

	"github.com/stockade/stockade/snapshot"
)

// Options tune Apply.
type Options struct {
	// Whiteouts tells how deletions are written: removed (WhiteoutDelete)
	// or as overlayfs whiteouts (WhiteoutOverlay).
	Whiteouts snapshot.WhiteoutFormat
	// NoLchown skips ownership changes (for rootless use and tests). As
	// Apply then runs unprivileged, character and block devices that
	// cannot be created (EPERM) and xattrs that cannot be set (EPERM:
	// trusted.*, security.capability) are skipped, as containerd does in a
	// user namespace.
	NoLchown bool
	// MaxFileSize, when positive, is the largest logical size accepted for
	// a regular file: a larger entry fails Apply. It bounds the work a
	// hostile sparse entry (tiny in the stream, huge once expanded) can ask
	// for. Zero means no limit.
	MaxFileSize int64
}

// Stats reports what Apply did.
type Stats struct {
	// Bytes is the number of bytes of the tar stream read. On success Apply
	// reads r to its end (past the end-of-archive blocks), so Bytes is the
	// length of the whole stream and a digest computed over r is complete.
	Bytes int64
	// Entries is the number of tar entries applied.
	Entries int64
}

// ErrUnsupported is returned by Apply on operating systems other than
// Linux and FreeBSD.
var ErrUnsupported = errors.New("archive: layer apply is not supported on this operating system")

// Apply reads an uncompressed tar stream from r and applies it to root,
// which must be an existing directory.
//
// Regular files, directories, symbolic links, hard links (within the layer
// and to files already present in root), character and block devices,
// fifos, owners (unless opts.NoLchown), modes with setuid/setgid/sticky,
// modification and access times, xattrs (user.*, trusted.* other than
// trusted.overlay.*, and security.capability; an attribute the file system
// does not support is skipped) and sparse files are applied. Whiteouts
// (".wh.NAME" and ".wh..wh..opq") are written as opts.Whiteouts says; as the
// OCI image spec requires, they only hide content that did not come from
// this same layer.
//
// A later entry replaces an earlier one of another type; a directory entry
// over an existing directory keeps it and only updates its metadata.
//
// Entry names that climb above root ("../x") are rejected; absolute names
// are taken relative to root. Symbolic links are stored as they are, but
// whenever Apply has to go through one it resolves it inside root, so
// nothing outside root is ever created, written, linked, changed, followed
// or removed, whatever the layer holds.
//
// Errors name the entry that failed. A corrupt or truncated stream is an
// error. Cancelling ctx stops Apply between entries (and between chunks of
// a large file). On error, root is left partly applied.
func Apply(ctx context.Context, root string, r io.Reader, opts Options) (Stats, error) {
	return apply(ctx, root, r, opts)
}
