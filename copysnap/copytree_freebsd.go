package copysnap

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

func mknod(path string, mode uint32, dev uint64) error { return unix.Mknod(path, mode, dev) }

// copyFileRange copies nothing: x/sys/unix has no copy_file_range for
// FreeBSD, so the caller copies in user space.
func copyFileRange(in, out *os.File, off, n int64) (int64, error) {
	return 0, errors.ErrUnsupported
}

// errNoAttr is the error of extattr_get for a missing attribute.
const errNoAttr = unix.ENOATTR
