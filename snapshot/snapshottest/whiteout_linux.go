package snapshottest

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// overlayWhiteout writes an overlayfs whiteout (a 0/0 character device) at
// path.
func overlayWhiteout(path string) error {
	if err := unix.Mknod(path, unix.S_IFCHR|0o000, int(unix.Mkdev(0, 0))); err != nil {
		return fmt.Errorf("whiteout %s: %w", path, err)
	}
	return nil
}

// overlayOpaque marks the directory dir opaque for overlayfs.
func overlayOpaque(dir string) error {
	if err := unix.Setxattr(dir, "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		return fmt.Errorf("mark %s opaque: %w", dir, err)
	}
	return nil
}
