package copysnap

import (
	"os"

	"golang.org/x/sys/unix"
)

func mknod(path string, mode uint32, dev uint64) error { return unix.Mknod(path, mode, int(dev)) }

// copyFileRange copies n bytes at off with copy_file_range(2), which
// shares blocks on file systems that can (btrfs, xfs) and copies in the
// kernel elsewhere. It returns what it copied; an error means the caller
// must copy the rest itself.
func copyFileRange(in, out *os.File, off, n int64) (int64, error) {
	var done int64
	for done < n {
		roff, woff := off+done, off+done
		k, err := unix.CopyFileRange(int(in.Fd()), &roff, int(out.Fd()), &woff, int(min(n-done, 1<<30)), 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, err
		}
		if k == 0 {
			break
		}
		done += int64(k)
	}
	return done, nil
}

// errNoAttr is the error of getxattr for a missing attribute.
const errNoAttr = unix.ENODATA
