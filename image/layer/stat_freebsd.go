package layer

import (
	"fmt"
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

const oNoFollow = unix.O_NOFOLLOW

// fileMeta converts what os.Lstat read.
func fileMeta(fi fs.FileInfo) (meta, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return meta{}, fmt.Errorf("%s: no stat data", fi.Name())
	}
	return meta{
		mode:  uint32(st.Mode),
		uid:   st.Uid,
		gid:   st.Gid,
		rdev:  uint64(st.Rdev),
		size:  st.Size,
		mtime: int64(st.Mtimespec.Sec)*1e9 + int64(st.Mtimespec.Nsec),
		dev:   uint64(st.Dev),
		ino:   uint64(st.Ino),
		nlink: uint64(st.Nlink),
	}, nil
}
