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
	}, nil
}

// fstat reads the metadata of an open file.
func fstat(fd int) (meta, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return meta{}, err
	}
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
	}, nil
}

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
