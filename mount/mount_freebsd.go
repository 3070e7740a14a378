//go:build freebsd

package mount

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/snapshot"
)

// mountOne makes one mount with nmount(2). The call's name/value pairs are
// built by makeNmount (nmount.go); a failure's error carries the kernel's
// errmsg when it wrote one.
func mountOne(m snapshot.Mount, target string) error {
	c, err := makeNmount(m, target)
	if err != nil {
		return err
	}
	if err := nmount(c); err != nil {
		return fmt.Errorf("mount %s on %s: %w", m, target, err)
	}
	return nil
}

// nmount performs the call.
func nmount(c NmountCall) error {
	bufs, errmsg := c.Encode()
	iov := make([]unix.Iovec, len(bufs))
	for i, b := range bufs {
		if len(b) > 0 {
			iov[i].Base = &b[0]
			iov[i].SetLen(len(b))
		}
	}
	for {
		_, _, e := unix.Syscall(unix.SYS_NMOUNT, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)), uintptr(c.Flags))
		runtime.KeepAlive(bufs)
		runtime.KeepAlive(iov)
		switch {
		case e == 0:
			return nil
		case e == unix.EINTR:
			continue
		}
		if msg := errmsgString(errmsg); msg != "" {
			return fmt.Errorf("nmount: %w: %s", e, msg)
		}
		return fmt.Errorf("nmount: %w", e)
	}
}

// Unmount unmounts the topmost mount on target with unmount(2). It retries
// for a short while when target is busy, and returns an error wrapping
// ErrNotMounted when target is not a mount point.
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

// IsMountPoint reports whether dir is the root of a mount: statfs(2)
// names the mount point of the file system dir is on.
func IsMountPoint(dir string) (bool, error) {
	// The kernel names the mount point without symbolic links.
	abs, err := filepath.EvalSymlinks(dir)
	if err == nil {
		abs, err = filepath.Abs(abs)
	}
	if err != nil {
		return false, fmt.Errorf("is %s a mount point: %w", dir, err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(abs, &st); err != nil {
		return false, fmt.Errorf("is %s a mount point: %w", dir, err)
	}
	return unix.ByteSliceToString(st.Mntonname[:]) == abs, nil
}
