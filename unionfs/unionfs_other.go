//go:build !freebsd

package unionfs

import (
	"errors"
	"fmt"
	"runtime"
)

// platformSupported fails: unionfs is FreeBSD's.
func platformSupported() error {
	return fmt.Errorf("unionfs is FreeBSD's, not available on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

func checkFS(root string) error { return platformSupported() }

func isMountPoint(path string) (bool, error) { return false, platformSupported() }
