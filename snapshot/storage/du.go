package storage

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/stockade/stockade/snapshot"
)

// inode identifies a file across hard links.
type inode struct{ dev, ino uint64 }

// DiskUsage measures the tree at dir the way du(1) does: Size is the sum of
// the allocated blocks (st_blocks * 512) and Inodes the number of distinct
// inodes, dir itself included. A file with several hard links in the tree
// is counted once. Symbolic links are not followed.
func DiskUsage(ctx context.Context, dir string) (snapshot.Usage, error) {
	var u snapshot.Usage
	seen := make(map[inode]struct{})
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if n++; n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := statOf(fi)
		if !ok {
			// No inode data on this OS: count apparent sizes.
			u.Size += fi.Size()
			u.Inodes++
			return nil
		}
		if st.nlink > 1 && !fi.IsDir() {
			k := inode{st.dev, st.ino}
			if _, dup := seen[k]; dup {
				return nil
			}
			seen[k] = struct{}{}
		}
		u.Size += st.blocks * 512
		u.Inodes++
		return nil
	})
	if err != nil {
		return snapshot.Usage{}, fmt.Errorf("disk usage of %s: %w", dir, err)
	}
	return u, nil
}

// fileStat is the part of struct stat that DiskUsage needs.
type fileStat struct {
	dev, ino, nlink uint64
	blocks          int64
}
