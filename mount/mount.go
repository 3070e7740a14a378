// Package mount makes the mounts returned by a snapshotter visible at a
// target directory and takes them down again.
//
// Option parsing (which options are mount(2) flags and which form the file
// system's data string) is portable and lives in options.go; only the
// system calls are per OS. On Linux, "bind" mounts use MS_BIND and are
// remounted read-only for "ro", and every other type ("overlay", "tmpfs",
// ...) is passed to mount(2) with its flags and data. On FreeBSD every
// mount is an nmount(2) call whose name/value iovec is built by the
// portable NmountArgs (nmount.go): nullfs ("bind" and "rbind" map to it),
// unionfs, tmpfs, devfs, fdescfs, procfs and zfs. Other systems return
// errors wrapping ErrNotSupported.
package mount

import (
	"errors"
	"fmt"

	"github.com/stockade/stockade/snapshot"
)

// ErrNotSupported is wrapped by the errors of this package on systems where
// it cannot mount yet.
var ErrNotSupported = errors.New("mounting is not supported")

// ErrNotMounted is wrapped by Unmount's error when target is not a mount
// point.
var ErrNotMounted = errors.New("not a mount point")

// All mounts mounts on target in order, each on top of the previous one.
// If one fails, those already made are unmounted and the error names the
// failing mount.
func All(mounts []snapshot.Mount, target string) error {
	if len(mounts) == 0 {
		return fmt.Errorf("mount on %s: no mounts given", target)
	}
	for i, m := range mounts {
		if err := mountOne(m, target); err != nil {
			for j := 0; j < i; j++ {
				if uerr := Unmount(target); uerr != nil {
					err = errors.Join(err, fmt.Errorf("undo earlier mounts: %w", uerr))
					break
				}
			}
			return err
		}
	}
	return nil
}

// UnmountAll unmounts target until it is no longer a mount point, for
// stacked mounts such as those made by All. A target that is not a mount
// point, or does not exist, is not an error.
func UnmountAll(target string) error {
	for i := 0; i < 1024; i++ {
		err := Unmount(target)
		if err == nil {
			continue
		}
		if errors.Is(err, ErrNotMounted) {
			return nil
		}
		return err
	}
	return fmt.Errorf("unmount all of %s: still mounted after 1024 unmounts", target)
}
