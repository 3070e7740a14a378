//go:build !linux

package overlay

import (
	"errors"
	"runtime"
)

// platformSupported fails: overlayfs exists only on Linux.
func platformSupported() error {
	return errors.New("overlayfs is not supported on " + runtime.GOOS)
}

func checkOverlay(root string) error { return platformSupported() }

func overlayIndexOn() bool { return false }
