//go:build !linux && !freebsd

package engine

import (
	"archive/tar"
	"context"
	"errors"
	"io/fs"
)

var errCopyUnsupported = errors.New("copying files of a container is supported on Linux and FreeBSD only")

func writeTree(context.Context, *tar.Writer, string, string, string, *Owner) error {
	return errCopyUnsupported
}

// StatInRoot is not supported on this system.
func StatInRoot(root, p string, follow bool) (fs.FileInfo, error) { return nil, errCopyUnsupported }
