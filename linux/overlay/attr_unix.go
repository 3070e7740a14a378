//go:build unix

package overlay

import (
	"fmt"
	"os"
	"syscall"
)

// copyDirAttrs gives dst the owner and permission bits of src.
func copyDirAttrs(src, dst string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if err := os.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
			return fmt.Errorf("copy owner of %s: %w", src, err)
		}
	}
	return os.Chmod(dst, fi.Mode()&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky))
}
