//go:build linux || freebsd

package engine

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// openDirAt opens the directory name below dirfd, never following a link.
func openDirAt(dirfd int, name string) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		return fd, err
	}
}

// openParent opens, from root, the directory that holds rel's last
// component, one real directory at a time, and returns it with that
// component ("." when rel is "": root itself).
func openParent(root, rel string) (int, string, error) {
	rootfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", &fs.PathError{Op: "open", Path: root, Err: err}
	}
	if rel == "" {
		return rootfd, ".", nil
	}
	parts := strings.Split(rel, "/")
	fd := rootfd
	for i, c := range parts[:len(parts)-1] {
		next, err := openDirAt(fd, c)
		unix.Close(fd)
		if err != nil {
			if err == unix.ELOOP || err == unix.ENOTDIR || err == unix.EMLINK {
				err = fmt.Errorf("not a directory (or changed into a link while copying)")
			}
			return -1, "", &fs.PathError{Op: "open", Path: "/" + strings.Join(parts[:i+1], "/"), Err: err}
		}
		fd = next
	}
	return fd, parts[len(parts)-1], nil
}

// StatInRoot returns what the container path p is, resolved inside root
// (following a last link when follow is set), without leaving root.
func StatInRoot(root, p string, follow bool) (fs.FileInfo, error) {
	rel, err := ResolveInRoot(root, p, follow)
	if err != nil {
		return nil, err
	}
	dirfd, base, err := openParent(root, rel)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dirfd)
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: p, Err: err}
	}
	return statInfo{name: path.Base("/" + rel), st: st}, nil
}

// statInfo is a fs.FileInfo over a unix.Stat_t.
type statInfo struct {
	name string
	st   unix.Stat_t
}

func (s statInfo) Name() string       { return s.name }
func (s statInfo) Size() int64        { return s.st.Size }
func (s statInfo) Mode() fs.FileMode  { return fileMode(uint32(s.st.Mode)) }
func (s statInfo) ModTime() time.Time { return time.Unix(s.st.Mtim.Unix()) }
func (s statInfo) IsDir() bool        { return s.Mode().IsDir() }
func (s statInfo) Sys() any           { return &s.st }

// fileMode converts a stat(2) mode to a fs.FileMode.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// treeWriter archives a tree read through descriptors.
type treeWriter struct {
	ctx   context.Context
	tw    *tar.Writer
	owner *Owner
	// links maps a multiply linked file to its first name in the stream.
	links map[[2]uint64]string
}

func writeTree(ctx context.Context, tw *tar.Writer, root, rel, name string, owner *Owner) error {
	dirfd, base, err := openParent(root, rel)
	if err != nil {
		return err
	}
	defer unix.Close(dirfd)
	w := &treeWriter{ctx: ctx, tw: tw, owner: owner, links: map[[2]uint64]string{}}
	return w.add(dirfd, base, name, "/"+rel)
}

// add archives the entry base of dirfd as name; shown is its path for
// errors.
func (w *treeWriter) add(dirfd int, base, name, shown string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &fs.PathError{Op: "stat", Path: shown, Err: err}
	}
	mode := uint32(st.Mode)
	hdr := &tar.Header{
		Name:    name,
		Mode:    int64(mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Unix()),
		Format:  tar.FormatPAX,
	}
	if w.owner != nil {
		hdr.Uid, hdr.Gid = w.owner.UID, w.owner.GID
	}
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		if name != "." && !strings.HasSuffix(name, "/") {
			hdr.Name += "/"
		}
		fd, err := openDirAt(dirfd, base)
		if err != nil {
			return &fs.PathError{Op: "open", Path: shown, Err: err}
		}
		f := os.NewFile(uintptr(fd), shown)
		defer f.Close()
		names, err := f.Readdirnames(-1)
		if err != nil {
			return &fs.PathError{Op: "read directory", Path: shown, Err: err}
		}
		if err := w.tw.WriteHeader(hdr); err != nil {
			return err
		}
		slices.Sort(names)
		for _, n := range names {
			if err := w.add(fd, n, path.Join(name, n), path.Join(shown, n)); err != nil {
				return err
			}
		}
		return nil
	case unix.S_IFLNK:
		buf := make([]byte, 4096)
		n, err := unix.Readlinkat(dirfd, base, buf)
		if err != nil {
			return &fs.PathError{Op: "readlink", Path: shown, Err: err}
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, string(buf[:n])
		return w.tw.WriteHeader(hdr)
	case unix.S_IFREG:
		key := [2]uint64{uint64(st.Dev), uint64(st.Ino)}
		if uint64(st.Nlink) > 1 {
			if first, ok := w.links[key]; ok {
				hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
				return w.tw.WriteHeader(hdr)
			}
			w.links[key] = name
		}
		fd, err := unix.Openat(dirfd, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return &fs.PathError{Op: "open", Path: shown, Err: err}
		}
		f := os.NewFile(uintptr(fd), shown)
		defer f.Close()
		var fst unix.Stat_t
		if err := unix.Fstat(fd, &fst); err != nil || fst.Ino != st.Ino || fst.Dev != st.Dev {
			return &fs.PathError{Op: "open", Path: shown, Err: errors.New("changed while copying")}
		}
		hdr.Typeflag, hdr.Size = tar.TypeReg, fst.Size
		if err := w.tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.CopyN(w.tw, f, fst.Size); err != nil {
			return &fs.PathError{Op: "read", Path: shown, Err: err}
		}
		return nil
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev)))
		return w.tw.WriteHeader(hdr)
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
		return w.tw.WriteHeader(hdr)
	}
	return nil // sockets are not archived, as tar does
}
