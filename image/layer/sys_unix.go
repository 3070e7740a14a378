//go:build linux || freebsd

package layer

import (
	"errors"
	"strings"

	"golang.org/x/sys/unix"
)

// lstat reads the metadata of p without following it.
func lstat(p string) (meta, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return meta{}, err
	}
	return statMeta(&st), nil
}

// fstat reads the metadata of an open file.
func fstat(fd int) (meta, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return meta{}, err
	}
	return statMeta(&st), nil
}

// fstatat reads the metadata of name in dirfd without following it.
func fstatat(dirfd int, name string) (meta, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return meta{}, err
	}
	return statMeta(&st), nil
}

func statMeta(st *unix.Stat_t) meta {
	return meta{
		mode:  uint32(st.Mode),
		uid:   st.Uid,
		gid:   st.Gid,
		rdev:  uint64(st.Rdev),
		size:  st.Size,
		mtime: int64(st.Mtim.Sec)*1e9 + int64(st.Mtim.Nsec),
		dev:   uint64(st.Dev),
		ino:   uint64(st.Ino),
		nlink: uint64(st.Nlink),
	}
}

// openRootDir opens the directory p (following links: the caller names
// it).
func openRootDir(p string) (int, error) {
	return unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

// openDirAt opens the directory name in dirfd, refusing a symbolic link.
func openDirAt(dirfd int, name string) (int, error) {
	return unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
}

// openFileAt opens the regular file name in dirfd for reading, refusing a
// symbolic link. O_NONBLOCK keeps a fifo swapped in for the file from
// blocking the open (the caller checks the type of what it opened);
// reads of a regular file ignore it.
func openFileAt(dirfd int, name string) (int, error) {
	return unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
}

func readlinkAt(dirfd int, name string) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

func readFd(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Read(fd, p)
		if err == unix.EINTR {
			continue
		}
		if n < 0 {
			n = 0
		}
		return n, err
	}
}

func closeFd(fd int) error { return unix.Close(fd) }

func major(dev uint64) uint32 { return unix.Major(dev) }
func minor(dev uint64) uint32 { return unix.Minor(dev) }

// xattrErrIgnored tells whether an error reading xattrs means "none":
// the file system does not support them, or the node cannot carry them.
func xattrErrIgnored(err error) bool {
	return errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EPERM) || errors.Is(err, errNoAttr)
}

// readXattrs returns the xattrs that a layer carries (see keepXattr) of p
// (not followed) or, when fd >= 0, of the open file fd.
func readXattrs(p string, fd int) (map[string]string, error) {
	list := func(buf []byte) (int, error) {
		if fd >= 0 {
			return unix.Flistxattr(fd, buf)
		}
		return unix.Llistxattr(p, buf)
	}
	get := func(name string, buf []byte) (int, error) {
		if fd >= 0 {
			return unix.Fgetxattr(fd, name, buf)
		}
		return unix.Lgetxattr(p, name, buf)
	}
	n, err := list(nil)
	if err != nil {
		if xattrErrIgnored(err) {
			return nil, nil
		}
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	buf := make([]byte, n)
	n, err = list(buf)
	if err != nil {
		if xattrErrIgnored(err) {
			return nil, nil
		}
		return nil, err
	}
	var out map[string]string
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if !keepXattr(name) {
			continue
		}
		sz, err := get(name, nil)
		if err != nil {
			if xattrErrIgnored(err) {
				continue
			}
			return nil, err
		}
		val := make([]byte, sz)
		if sz > 0 {
			if sz, err = get(name, val); err != nil {
				if xattrErrIgnored(err) {
					continue
				}
				return nil, err
			}
		}
		if out == nil {
			out = map[string]string{}
		}
		out[name] = string(val[:sz])
	}
	return out, nil
}

// overlayRedirect tells whether p of an overlayfs upper directory carries
// the xattrs of redirect_dir (a renamed directory) or metacopy (a file
// whose data is still below): content OverlayChanges cannot follow.
func overlayRedirect(p string) string {
	buf := make([]byte, 1)
	for _, name := range []string{"trusted.overlay.redirect", "user.overlay.redirect", "trusted.overlay.metacopy", "user.overlay.metacopy"} {
		if _, err := unix.Lgetxattr(p, name, buf); err == nil || errors.Is(err, unix.ERANGE) {
			return name
		}
	}
	return ""
}

// overlayOpaque tells whether the directory p of an overlayfs upper (or
// lower) layer is opaque.
func overlayOpaque(p string) bool {
	buf := make([]byte, 2)
	for _, name := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		n, err := unix.Lgetxattr(p, name, buf)
		if err == nil && n == 1 && buf[0] == 'y' {
			return true
		}
	}
	return false
}

func isNotDir(err error) bool { return errors.Is(err, unix.ENOTDIR) }
