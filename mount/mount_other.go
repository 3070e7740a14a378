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
