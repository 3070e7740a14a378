//go:build !unix

package overlay

import "os"

// copyDirAttrs gives dst the permission bits of src.
func copyDirAttrs(src, dst string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	return os.Chmod(dst, fi.Mode().Perm())
}
