// Package archive applies OCI layer tar streams to a directory without ever
// creating, linking, following or deleting anything outside that directory.
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
	// NoLchown skips ownership changes (for rootless use and tests).
	NoLchown bool
}

// Stats reports what Apply did.
type Stats struct {
	// Bytes is the number of bytes of the tar stream read.
	Bytes int64
	// Entries is the number of tar entries applied.
	Entries int64
}

// Apply reads an uncompressed tar stream from r and applies it to root.
func Apply(ctx context.Context, root string, r io.Reader, opts Options) (Stats, error) {
	return Stats{}, errors.New("archive.Apply: not implemented yet")
}
