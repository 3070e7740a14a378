//go:build !(linux || freebsd || darwin || netbsd || openbsd || dragonfly)

package zfs

import (
	"fmt"
	"os"
	"runtime"
)

// tryLock is not supported on this GOOS.
func tryLock(f *os.File) (bool, error) {
	return false, fmt.Errorf("lock %s: file locks are not supported on %s", f.Name(), runtime.GOOS)
}
