//go:build !(linux || freebsd)

package copysnap

import (
	"context"
	"fmt"
	"runtime"
)

// CopyTree is not supported on this GOOS.
func CopyTree(ctx context.Context, src, dst string) error {
	return fmt.Errorf("copy %s: copying trees is not supported on %s", src, runtime.GOOS)
}
