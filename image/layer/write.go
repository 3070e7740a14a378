package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"
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
// Paths are resolved inside root (os.Root), so a symbolic link in the
// tree never makes Write read anything outside it. A file that changes
// size while it is read (a running container) fails Write.
func Write(ctx context.Context, w io.Writer, root string, changes []Change) error {
	r, err := os.OpenRoot(root)
	if err != nil {
		return fmt.Errorf("write layer: %w", err)
	}
	defer r.Close()
	sorted := append([]Change(nil), changes...)
	Sort(sorted)
	lw := &writer{ctx: ctx, tw: tar.NewWriter(w), root: r, rootPath: root, links: map[[2]uint64]string{}}
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
	ctx      context.Context
	tw       *tar.Writer
	root     *os.Root
	rootPath string
	links    map[[2]uint64]string // dev, ino → name written
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

// entry writes the node at p (absolute) and, for an opaque directory, the
// opaque marker.
func (lw *writer) entry(p string, opaque bool) error {
	rel := strings.TrimPrefix(p, "/")
	fi, err := lw.root.Lstat(rel)
	if err != nil {
		return err
	}
	m, err := fileMeta(fi)
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
	var f *os.File
	switch m.typ() {
	case sIFDIR:
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
		if f, err = lw.root.Open(rel); err != nil {
			return err
		}
		defer f.Close()
	case sIFREG:
		key := [2]uint64{m.dev, m.ino}
		if first, ok := lw.links[key]; ok && m.nlink > 1 {
			hdr.Typeflag = tar.TypeLink
			hdr.Linkname = first
			return lw.tw.WriteHeader(hdr)
		}
		if f, err = lw.root.OpenFile(rel, os.O_RDONLY|oNoFollow, 0); err != nil {
			return err
		}
		defer f.Close()
		if m, err = fstat(int(f.Fd())); err != nil {
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
		if hdr.Linkname, err = lw.root.Readlink(rel); err != nil {
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
	if f != nil {
		x, err := readXattrs("", int(f.Fd()))
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
		n, err := io.Copy(lw.tw, &ctxReader{ctx: lw.ctx, r: f})
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

// ctxReader stops reading when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
