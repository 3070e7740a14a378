//go:build linux || freebsd

package copysnap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// inode identifies a file across hard links.
type inode struct{ dev, ino uint64 }

// copier copies one tree. It remembers the files with several links, so
// that a file hard-linked within the tree is linked in the copy too.
type copier struct {
	ctx   context.Context
	links map[inode]string
	buf   []byte
	n     int
}

// CopyTree copies the directory tree src into the existing, empty
// directory dst, never following symbolic links. It keeps:
//
//   - file types: regular files, directories, symbolic links, character
//     and block devices, FIFOs and sockets;
//   - hard links between files of the tree;
//   - owners, permission bits (setuid, setgid and sticky included),
//     access and modification times (to the nanosecond), and extended
//     attributes (on Linux every namespace the caller may write, which
//     carries POSIX ACLs and file capabilities; on FreeBSD the user and
//     system namespaces);
//   - holes of sparse files, found with SEEK_DATA/SEEK_HOLE.
//
// It does not keep FreeBSD file flags (chflags), FreeBSD NFSv4 ACLs, or
// change times, which no system call can set. Devices can only be made
// where the system allows mknod (on FreeBSD, device nodes live on devfs
// only). dst's own attributes are set from src's.
func CopyTree(ctx context.Context, src, dst string) error {
	c := &copier{ctx: ctx, links: map[inode]string{}}
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		return &os.PathError{Op: "lstat", Path: src, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("copy %s: not a directory", src)
	}
	if err := c.copyDir(src, dst); err != nil {
		return err
	}
	return c.setAttrs(src, dst, &st)
}

func (c *copier) copyDir(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if c.n++; c.n%256 == 0 {
			if err := c.ctx.Err(); err != nil {
				return err
			}
		}
		s, d := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		if err := c.copyEntry(s, d); err != nil {
			return err
		}
	}
	return nil
}

// copyEntry copies one entry of any type, with its attributes.
func (c *copier) copyEntry(src, dst string) error {
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		return &os.PathError{Op: "lstat", Path: src, Err: err}
	}
	mode := uint32(st.Mode)
	ftype := mode & unix.S_IFMT
	if ftype != unix.S_IFDIR && uint64(st.Nlink) > 1 {
		key := inode{uint64(st.Dev), uint64(st.Ino)}
		if first, ok := c.links[key]; ok {
			if err := os.Link(first, dst); err != nil {
				return err
			}
			return nil // the attributes are the first link's
		}
		c.links[key] = dst
	}
	switch ftype {
	case unix.S_IFDIR:
		if err := os.Mkdir(dst, 0o700); err != nil {
			return err
		}
		if err := c.copyDir(src, dst); err != nil {
			return err
		}
	case unix.S_IFREG:
		if err := c.copyFile(src, dst, st.Size); err != nil {
			return err
		}
	case unix.S_IFLNK:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
	case unix.S_IFIFO:
		if err := unix.Mkfifo(dst, 0o600); err != nil {
			return &os.PathError{Op: "mkfifo", Path: dst, Err: err}
		}
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFSOCK:
		if err := mknod(dst, ftype|0o600, uint64(st.Rdev)); err != nil {
			return &os.PathError{Op: "mknod", Path: dst, Err: err}
		}
	default:
		return fmt.Errorf("copy %s: unsupported file type %#o", src, ftype)
	}
	return c.setAttrs(src, dst, &st)
}

// setAttrs gives dst the owner, mode, extended attributes and times of
// src, in that order: chown clears setuid bits, and every change but the
// last would update the times.
func (c *copier) setAttrs(src, dst string, st *unix.Stat_t) error {
	isLink := uint32(st.Mode)&unix.S_IFMT == unix.S_IFLNK
	if err := unix.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return &os.PathError{Op: "lchown", Path: dst, Err: err}
	}
	if !isLink {
		if err := unix.Chmod(dst, uint32(st.Mode)&0o7777); err != nil {
			return &os.PathError{Op: "chmod", Path: dst, Err: err}
		}
	}
	if err := c.copyXattrs(src, dst, isLink); err != nil {
		return err
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimes", Path: dst, Err: err}
	}
	return nil
}

// copyXattrs copies the extended attributes of src to dst. Attributes the
// file system or the caller's privileges do not allow on dst are an error,
// except on symbolic links, where Linux allows no user attributes.
func (c *copier) copyXattrs(src, dst string, isLink bool) error {
	names, err := listXattrs(src)
	if err != nil {
		if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) {
			return nil
		}
		return &os.PathError{Op: "listxattr", Path: src, Err: err}
	}
	for _, name := range names {
		val, err := getXattr(src, name)
		if err != nil {
			if errors.Is(err, errNoAttr) {
				continue // removed meanwhile
			}
			return &os.PathError{Op: "getxattr " + name, Path: src, Err: err}
		}
		if err := unix.Lsetxattr(dst, name, val, 0); err != nil {
			if isLink && (errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP)) {
				continue
			}
			return &os.PathError{Op: "setxattr " + name, Path: dst, Err: err}
		}
	}
	return nil
}

func listXattrs(path string) ([]string, error) {
	size := 1024
	for {
		buf := make([]byte, size)
		n, err := unix.Llistxattr(path, buf)
		if errors.Is(err, unix.ERANGE) {
			if n, err = unix.Llistxattr(path, nil); err != nil {
				return nil, err
			}
			size = n + 64
			continue
		}
		if err != nil {
			return nil, err
		}
		var names []string
		for _, b := range splitNul(buf[:n]) {
			names = append(names, string(b))
		}
		return names, nil
	}
}

func getXattr(path, name string) ([]byte, error) {
	size := 256
	for {
		buf := make([]byte, size)
		n, err := unix.Lgetxattr(path, name, buf)
		if errors.Is(err, unix.ERANGE) {
			if n, err = unix.Lgetxattr(path, name, nil); err != nil {
				return nil, err
			}
			size = n + 64
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

func splitNul(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != 0 {
			i++
		}
		if i > 0 {
			out = append(out, b[:i])
		}
		if i == len(b) {
			break
		}
		b = b[i+1:]
	}
	return out
}

// copyFile copies a regular file's data, leaving holes where src has
// them.
func (c *copier) copyFile(src, dst string, size int64) (err error) {
	in, err := os.OpenFile(src, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	for off := int64(0); off < size; {
		data, err := unix.Seek(int(in.Fd()), off, unix.SEEK_DATA)
		switch {
		case errors.Is(err, unix.ENXIO):
			data = size // only a hole is left
		case err != nil:
			// No SEEK_DATA here: copy everything.
			data = off
		}
		if data >= size {
			break
		}
		end, err := unix.Seek(int(in.Fd()), data, unix.SEEK_HOLE)
		if err != nil || end > size {
			end = size
		}
		if err := c.copyRange(in, out, data, end-data); err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
		off = end
	}
	if err := out.Truncate(size); err != nil {
		return err
	}
	return nil
}

// copyRange copies n bytes at off, in the kernel where it can.
func (c *copier) copyRange(in, out *os.File, off, n int64) error {
	done, err := copyFileRange(in, out, off, n)
	if err == nil && done == n {
		return nil
	}
	off, n = off+done, n-done
	if c.buf == nil {
		c.buf = make([]byte, 1<<20)
	}
	r := io.NewSectionReader(in, off, n)
	for n > 0 {
		k, err := r.Read(c.buf[:min(int64(len(c.buf)), n)])
		if k > 0 {
			if _, werr := out.WriteAt(c.buf[:k], off); werr != nil {
				return werr
			}
			off += int64(k)
			n -= int64(k)
		}
		if err == io.EOF {
			return nil // the file shrank while being copied
		}
		if err != nil {
			return err
		}
	}
	return nil
}
