//go:build !unix

package storage

import "io/fs"

func statOf(fi fs.FileInfo) (fileStat, bool) { return fileStat{}, false }
