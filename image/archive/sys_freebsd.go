//go:build freebsd

package archive

import (
	"errors"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

var errNoOverlay = errors.New("overlayfs whiteouts are not supported on FreeBSD")

func mknodat(dirfd int, name string, mode uint32, dev uint64) error {
	return unix.Mknodat(dirfd, name, mode, dev)
}

// chmodAt changes the mode of name in dirfd; FreeBSD's fchmodat honours
// AT_SYMLINK_NOFOLLOW.
func chmodAt(dirfd int, name string, mode uint32) error {
	return unix.Fchmodat(dirfd, name, mode, unix.AT_SYMLINK_NOFOLLOW)
}

func futimens(fd int, ts *[2]unix.Timespec) error {
	_, _, e := unix.Syscall(unix.SYS_FUTIMENS, uintptr(fd), uintptr(unsafe.Pointer(ts)), 0)
	if e != 0 {
		return e
	}
	return nil
}

// fsetxattr sets user.* xattrs as extattrs of the user namespace. FreeBSD
// has no trusted.* or security.capability: those are skipped.
func fsetxattr(fd int, attr string, val []byte) error {
	if !strings.HasPrefix(attr, "user.") {
		return nil
	}
	return unix.Fsetxattr(fd, attr, val, 0)
}

// lsetxattrAt is a no-op on FreeBSD: extattrs can only be set on symbolic
// links, devices and fifos by path (extattr_set_link), and no *at variant
// exists to do it safely relative to a directory descriptor. Such xattrs
// are skipped.
func lsetxattrAt(dirfd int, name, attr string, val []byte) error {
	return nil
}

func xattrSkippable(err error, special, rootless bool) bool {
	return err == unix.ENOTSUP || err == unix.EOPNOTSUPP || (err == unix.EPERM && rootless)
}

// skipDeviceErr reports whether a device node that cannot be created is
// skipped. FreeBSD only has device nodes in devfs (a jail gets its /dev
// from devfs), so mknod of a character or block device on UFS or ZFS
// fails: such entries are skipped.
func skipDeviceErr(err error, rootless bool) bool {
	return err == unix.EINVAL || err == unix.EPERM || err == unix.EOPNOTSUPP
}

func setOpaque(int) error { return errNoOverlay }

func mkWhiteout(int, string) error { return errNoOverlay }
