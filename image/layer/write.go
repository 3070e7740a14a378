package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/stockade/stockade/internal/ctxio"
)

// Whiteout names of the OCI image layer format.
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	xattrPAXPrefix = "SCHILY.xattr."
)

// Write writes changes as an uncompressed OCI layer tar to w. Added and
// modified paths are read from root (the upper tree, or an overlayfs
// upper directory): directories, regular files, symbolic links, hard
// links (a file already written under another name of the same inode
// becomes a link to it), character and block devices and fifos, with
// their permissions, owners, modification times (whole seconds, as docker
// writes them, so that equal trees give equal layers) and, for files and
// directories, the extended attributes the applier sets (user.*,
// trusted.*, security.capability). Sockets and whiteout devices are left
// out. A Delete is written as a ".wh.NAME" entry and a directory whose
// Change is Opaque gets a ".wh..wh..opq" entry; deletes below a deleted
// or opaque directory are implied and not written.
//
// Every path is opened one component at a time from a descriptor of its
// parent directory, never following a symbolic link, so whatever the tree
// holds (or a running container swaps in), Write reads nothing outside
// root. A file that changes size while it is read fails Write.
func Write(ctx context.Context, w io.Writer, root string, changes []Change) error {
	rootfd, err := openRootDir(root)
	if err != nil {
		return fmt.Errorf("write layer: %w", err)
	}
	sorted := append([]Change(nil), changes...)
	Sort(sorted)
	lw := &writer{ctx: ctx, tw: tar.NewWriter(w), dirs: map[string]int{"/": rootfd}, links: map[[2]uint64]string{}, buf: make([]byte, 128<<10)}
	defer lw.closeDirs("")
	covered := map[string]bool{} // deleted and opaque directories
	under := func(p string) bool {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if covered[d] {
				return true
			}
		}
		return false
	}
	for i, c := range sorted {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		p := path.Clean("/" + c.Path)
		if p == "/" {
			continue
		}
		switch c.Kind {
		case Delete:
			if under(p) {
				continue
			}
			covered[p] = true
			err = lw.whiteout(path.Join(path.Dir(p), whiteoutPrefix+path.Base(p)))
		case Add, Modify:
			err = lw.entry(p, c.Opaque)
			if err == nil && c.Opaque {
				covered[p] = true
			}
		default:
			err = fmt.Errorf("unknown change kind %d", c.Kind)
		}
		if err != nil {
			return fmt.Errorf("write layer: %s: %w", p, err)
		}
	}
	if err := lw.tw.Close(); err != nil {
		return fmt.Errorf("write layer: %w", err)
	}
	return nil
}

type writer struct {
	ctx   context.Context
	tw    *tar.Writer
	dirs  map[string]int       // open directories: "/", the current one and its parents
	links map[[2]uint64]string // dev, ino → name written
	buf   []byte               // for copying file content
}

// epoch is the time of whiteout entries: fixed, so that equal changes
// give equal bytes.
var epoch = time.Unix(0, 0).UTC()

func (lw *writer) whiteout(name string) error {
	return lw.tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg,
		Name:     strings.TrimPrefix(name, "/"),
		Mode:     0o644,
		ModTime:  epoch,
		Format:   tar.FormatPAX,
	})
}

// closeDirs closes the open directories that are neither keep nor one of
// its parents (all of them when keep is ""): Write meets paths in tree
// order, so it never comes back to them.
func (lw *writer) closeDirs(keep string) {
	for d, fd := range lw.dirs {
		if keep == "" || (d != "/" && d != keep && !strings.HasPrefix(keep, d+"/")) {
			closeFd(fd)
			delete(lw.dirs, d)
		}
	}
}

// dir returns a descriptor of the directory d (absolute), opened from its
// parent's without following links, so that each entry costs one lookup
// of its last component rather than a walk of its whole path.
func (lw *writer) dir(d string) (int, error) {
	if fd, ok := lw.dirs[d]; ok {
		return fd, nil
	}
	lw.closeDirs(d)
	parent, err := lw.dir(path.Dir(d))
	if err != nil {
		return -1, err
	}
	fd, err := openDirAt(parent, path.Base(d))
	if err != nil {
		return -1, err
	}
	lw.dirs[d] = fd
	return fd, nil
}

// entry writes the node at p (absolute) and, for an opaque directory, the
// opaque marker.
func (lw *writer) entry(p string, opaque bool) error {
	rel := strings.TrimPrefix(p, "/")
	dirfd, err := lw.dir(path.Dir(p))
	if err != nil {
		return err
	}
	base := path.Base(p)
	m, err := fstatat(dirfd, base)
	if err != nil {
		return err
	}
	hdr := &tar.Header{
		Name:    rel,
		Mode:    int64(m.perm()),
		Uid:     int(m.uid),
		Gid:     int(m.gid),
		ModTime: time.Unix(0, m.mtime).Truncate(time.Second).UTC(),
		Format:  tar.FormatPAX,
	}
	fd := -1 // an open descriptor of the node, for its xattrs
	switch m.typ() {
	case sIFDIR:
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
		if fd, err = lw.dir(p); err != nil {
			return err
		}
	case sIFREG:
		key := [2]uint64{m.dev, m.ino}
		if first, ok := lw.links[key]; ok && m.nlink > 1 {
			hdr.Typeflag = tar.TypeLink
			hdr.Linkname = first
			return lw.tw.WriteHeader(hdr)
		}
		if fd, err = openFileAt(dirfd, base); err != nil {
			return err
		}
		defer closeFd(fd)
		if m, err = fstat(fd); err != nil {
			return err
		}
		if m.typ() != sIFREG {
			return errors.New("changed type while being read")
		}
		hdr.Typeflag = tar.TypeReg
		hdr.Size = m.size
		if m.nlink > 1 {
			lw.links[key] = rel
		}
	case sIFLNK:
		hdr.Typeflag = tar.TypeSymlink
		if hdr.Linkname, err = readlinkAt(dirfd, base); err != nil {
			return err
		}
	case sIFCHR, sIFBLK:
		if isWhiteout(m) {
			return nil
		}
		hdr.Typeflag = tar.TypeChar
		if m.typ() == sIFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(major(m.rdev)), int64(minor(m.rdev))
	case sIFIFO:
		hdr.Typeflag = tar.TypeFifo
	default: // sockets are not carried by layers
		return nil
	}
	if fd >= 0 {
		x, err := readXattrs("", fd)
		if err != nil {
			return fmt.Errorf("xattrs: %w", err)
		}
		for k, v := range x {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords[xattrPAXPrefix+k] = v
		}
	}
	if err := lw.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
		n, err := io.CopyBuffer(lw.tw, ctxio.NewReader(lw.ctx, fdReader(fd)), lw.buf)
		if err != nil {
			return err
		}
		if n != hdr.Size {
			return fmt.Errorf("changed size while being read (%d bytes, then %d)", hdr.Size, n)
		}
	}
	if opaque && hdr.Typeflag == tar.TypeDir {
		return lw.whiteout(path.Join(p, whiteoutOpaque))
	}
	return nil
}

// fdReader reads a raw file descriptor.
type fdReader int

func (f fdReader) Read(p []byte) (int, error) {
	n, err := readFd(int(f), p)
	if n == 0 && err == nil && len(p) > 0 {
		return 0, io.EOF
	}
	return n, err
}
