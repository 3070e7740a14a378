//go:build unix

package storage

import (
	"io/fs"
	"syscall"
)

func statOf(fi fs.FileInfo) (fileStat, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileStat{}, false
	}
	return fileStat{
		dev:    uint64(st.Dev),
		ino:    uint64(st.Ino),
		nlink:  uint64(st.Nlink),
		blocks: int64(st.Blocks),
	}, true
}
