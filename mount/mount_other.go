//go:build !linux && !freebsd

package mount

import (
	"fmt"
	"runtime"

	"github.com/stockade/stockade/snapshot"
)

func mountOne(m snapshot.Mount, target string) error {
	return fmt.Errorf("mount %s on %s: %w on %s yet", m, target, ErrNotSupported, runtime.GOOS)
}

// Unmount unmounts the topmost mount on target. It is not supported on
// this system yet and returns an error wrapping ErrNotSupported.
func Unmount(target string) error {
	return fmt.Errorf("unmount %s: %w on %s yet", target, ErrNotSupported, runtime.GOOS)
}

// IsMountPoint reports whether dir is the root of a mount. It is not
// supported on this system yet and returns an error wrapping
// ErrNotSupported.
func IsMountPoint(dir string) (bool, error) {
	return false, fmt.Errorf("is %s a mount point: %w on %s yet", dir, ErrNotSupported, runtime.GOOS)
}
