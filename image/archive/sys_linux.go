//go:build linux

package archive

import (
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

func mknodat(dirfd int, name string, mode uint32, dev uint64) error {
	return unix.Mknodat(dirfd, name, mode, int(dev))
}

// chmodAt changes the mode of name in dirfd without following it, with
// fchmodat2(2) (Linux 6.6). On older kernels, plain fchmodat is used once a
// fresh lstat has shown name is not a symbolic link (Apply only calls it on
// a node it has just made with mknodat, and nothing else changes root).
func chmodAt(dirfd int, name string, mode uint32) error {
	err := unix.Fchmodat(dirfd, name, mode, unix.AT_SYMLINK_NOFOLLOW)
	if err != unix.EOPNOTSUPP && err != unix.ENOSYS {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return unix.EOPNOTSUPP
	}
	return unix.Fchmodat(dirfd, name, mode, 0)
}

// futimens sets the access and modification times of fd: utimensat(2)
// with a NULL path works on the descriptor itself.
func futimens(fd int, ts *[2]unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func fsetxattr(fd int, attr string, val []byte) error {
	return unix.Fsetxattr(fd, attr, val, 0)
}

// lsetxattrAt sets an xattr on name in dirfd without following it. Linux
// has no setxattrat before 6.13: the path goes through the /proc magic link
// of dirfd, which is the directory itself, not a path walked again.
func lsetxattrAt(dirfd int, name, attr string, val []byte) error {
	p := "/proc/self/fd/" + strconv.Itoa(dirfd) + "/" + name
	return unix.Lsetxattr(p, attr, val, 0)
}

// xattrSkippable reports whether a failure to set an xattr is ignored: the
// file system does not support it, or it is refused (EPERM) and either the
// node is a symbolic link, device or fifo (special), on which Linux refuses
// user.* xattrs, or Apply runs unprivileged (rootless), where trusted.* and
// security.capability cannot be set.
func xattrSkippable(err error, special, rootless bool) bool {
	return err == unix.ENOTSUP || err == unix.EOPNOTSUPP || (err == unix.EPERM && (special || rootless))
}

// skipDeviceErr reports whether a device node that cannot be created is
// skipped: on Linux only when unprivileged (rootless), as containerd does
// in a user namespace.
func skipDeviceErr(err error, rootless bool) bool { return rootless && err == unix.EPERM }

func setOpaque(fd int) error {
	return unix.Fsetxattr(fd, "trusted.overlay.opaque", []byte{'y'}, 0)
}

// mkWhiteout writes an overlayfs whiteout: a 0/0 character device.
func mkWhiteout(dirfd int, name string) error {
	return unix.Mknodat(dirfd, name, unix.S_IFCHR, 0)
}
