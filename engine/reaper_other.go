//go:build !linux && !freebsd

package engine

import (
	"fmt"
	"runtime"
)

func becomeSubreaper() error {
	return fmt.Errorf("no subreaper support on %s", runtime.GOOS)
}
