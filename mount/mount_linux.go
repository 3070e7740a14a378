package mount

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/snapshot"
)

func mountOne(m snapshot.Mount, target string) error {
	p := makePlan(m.Type, m.Source, m.Options)
	if len(p.data) > MaxDataLen {
		return fmt.Errorf("mount %s on %s: data string of %d bytes is longer than the kernel's limit of %d", m.Type, target, len(p.data), MaxDataLen)
	}
	if err := unix.Mount(p.source, target, p.fstype, p.flags, p.data); err != nil {
		return fmt.Errorf("mount %s on %s: %w", m, target, err)
	}
	if p.remount != 0 {
		if err := unix.Mount("", target, "", p.remount, ""); err != nil {
			err = fmt.Errorf("mount %s on %s: remount bind with flags %#x: %w", m, target, p.remount, err)
			if uerr := Unmount(target); uerr != nil {
				err = errors.Join(err, uerr)
			}
			return err
		}
	}
	if p.propagation != 0 {
		if err := unix.Mount("", target, "", p.propagation, ""); err != nil {
			err = fmt.Errorf("mount %s on %s: set propagation %#x: %w", m, target, p.propagation, err)
			if uerr := Unmount(target); uerr != nil {
				err = errors.Join(err, uerr)
			}
			return err
		}
	}
	return nil
}

// Unmount unmounts the topmost mount on target. It retries for a short
// while when target is busy, and returns an error wrapping ErrNotMounted
// when target is not a mount point.
func Unmount(target string) error {
	var err error
	for i := 0; i < 20; i++ {
		err = unix.Unmount(target, 0)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EBUSY):
			time.Sleep(50 * time.Millisecond)
			continue
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return fmt.Errorf("unmount %s: %w: %w", target, ErrNotMounted, err)
		}
		break
	}
	return fmt.Errorf("unmount %s: %w", target, err)
}

// IsMountPoint reports whether dir is the root of a mount: statx's
// STATX_ATTR_MOUNT_ROOT (Linux 5.8), or, on an older kernel, a device
// that differs from its parent's (which misses a bind mount from the
// same file system: false, as for no mount).
func IsMountPoint(dir string) (bool, error) {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, dir, unix.AT_SYMLINK_NOFOLLOW, 0, &stx); err != nil {
		return false, fmt.Errorf("is %s a mount point: %w", dir, err)
	}
	if stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 {
		return stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0, nil
	}
	var parent unix.Stat_t
	if err := unix.Stat(filepath.Join(dir, ".."), &parent); err != nil {
		return false, fmt.Errorf("is %s a mount point: %w", dir, err)
	}
	return uint64(parent.Dev) != unix.Mkdev(stx.Dev_major, stx.Dev_minor), nil
}
