//go:build !linux

package snapshottest

import (
	"fmt"
	"runtime"
)

// overlayWhiteout is not supported: overlayfs exists only on Linux.
func overlayWhiteout(path string) error {
	return fmt.Errorf("whiteout %s: overlay whiteouts are not supported on %s", path, runtime.GOOS)
}

// overlayOpaque is not supported: overlayfs exists only on Linux.
func overlayOpaque(dir string) error {
	return fmt.Errorf("mark %s opaque: overlay whiteouts are not supported on %s", dir, runtime.GOOS)
}
