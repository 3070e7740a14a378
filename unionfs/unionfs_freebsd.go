package unionfs

import (
	"bytes"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// platformSupported is nil: FreeBSD has unionfs.
func platformSupported() error { return nil }

// checkFS refuses a root whose file system cannot store unionfs whiteouts.
func checkFS(root string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return &os.PathError{Op: "statfs", Path: root, Err: err}
	}
	return fsTypeAllowed(cString(st.Fstypename[:]))
}

// isMountPoint reports whether a file system is mounted at path.
func isMountPoint(path string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false, &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	return cString(st.Mntonname[:]) == filepath.Clean(path), nil
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
