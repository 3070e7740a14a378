//go:build linux || freebsd

package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/snapshot"
)

const (
	// bufSize is the copy buffer: file content is read into it and
	// written out from it.
	bufSize = 1 << 20
	// readBufSize is the read-ahead under the tar reader, so headers and
	// small files do not cost a read(2) each. Reads of 64 KiB and more go
	// around it, straight into the copy buffer.
	readBufSize = 64 << 10
	// sparseBlock is the unit of the holes left in sparse files.
	sparseBlock = 4096

	whiteoutPrefix     = ".wh."
	whiteoutMetaPrefix = ".wh..wh."
	whiteoutOpaque     = ".wh..wh..opq"
	xattrPAXPrefix     = "SCHILY.xattr."
)

var (
	errEscape      = errors.New("path escapes the root directory")
	errRootEntry   = errors.New("entry for the root directory is not a directory")
	errBadWhiteout = errors.New("invalid whiteout name")
	errBadLink     = errors.New("invalid hard link target")

	copyBufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}
	readerPool  = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufSize) }}

	zeroBlock [sparseBlock]byte

	minTime = time.Unix(0, 0)
	maxTime = time.Unix(0, math.MaxInt64)
)

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type dirTime struct {
	name string
	ts   [2]unix.Timespec
}

type applier struct {
	opts Options
	done <-chan struct{}
	ctx  context.Context
	tr   *tar.Reader
	buf  []byte
	dirs dirStack
	// created holds the real paths of what this layer created, for the
	// whiteouts of the delete format (nil in the overlay format).
	created map[string]struct{}
	// dirTimes are set once all entries are in, as children change them.
	dirTimes   []dirTime
	dirTimeIdx map[string]int
}

func apply(ctx context.Context, root string, r io.Reader, opts Options) (Stats, error) {
	var st Stats
	switch opts.Whiteouts {
	case snapshot.WhiteoutDelete, snapshot.WhiteoutOverlay:
	default:
		return st, fmt.Errorf("apply: unknown whiteout format %d", opts.Whiteouts)
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	rootFd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return st, fmt.Errorf("apply: open root %s: %w", root, err)
	}
	defer unix.Close(rootFd)

	cr := &countingReader{r: r}
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(cr)
	defer func() {
		br.Reset(nil)
		readerPool.Put(br)
	}()
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)

	a := &applier{
		opts:       opts,
		ctx:        ctx,
		done:       ctx.Done(),
		tr:         tar.NewReader(br),
		buf:        *bp,
		dirs:       dirStack{root: rootFd},
		dirTimeIdx: make(map[string]int),
	}
	if opts.Whiteouts == snapshot.WhiteoutDelete {
		a.created = make(map[string]struct{})
		a.dirs.created = a.created
	}
	defer a.dirs.truncate(0)

	for {
		if err := a.canceled(); err != nil {
			st.Bytes = cr.n
			return st, err
		}
		hdr, err := a.tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			st.Bytes = cr.n
			return st, fmt.Errorf("apply: read tar: %w", err)
		}
		if err := a.entry(hdr); err != nil {
			st.Bytes = cr.n
			return st, fmt.Errorf("apply %q: %w", hdr.Name, err)
		}
		st.Entries++
	}
	if err := a.finish(); err != nil {
		st.Bytes = cr.n
		return st, err
	}
	// Read what follows the end-of-archive blocks, so whoever digests r
	// sees all of it.
	_, err = io.Copy(io.Discard, br)
	st.Bytes = cr.n
	if err != nil {
		return st, fmt.Errorf("apply: read tar: %w", err)
	}
	return st, nil
}

func (a *applier) canceled() error {
	if a.done == nil {
		return nil
	}
	select {
	case <-a.done:
		return a.ctx.Err()
	default:
		return nil
	}
}

// cleanName makes a tar name relative to root: "." for root itself, else a
// clean path with no leading "/" and no "..". Absolute names are taken
// relative to root; relative names that climb above it are rejected.
func cleanName(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", errors.New("name holds a NUL byte")
	}
	c := path.Clean(name)
	if c[0] == '/' {
		// Clean has dropped every ".." of an absolute path.
		c = strings.TrimLeft(c, "/")
		if c == "" {
			return ".", nil
		}
		return c, nil
	}
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", errEscape
	}
	return c, nil
}

func splitName(name string) (dir, base string) {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[:i], name[i+1:]
	}
	return "", name
}

func (a *applier) entry(hdr *tar.Header) error {
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil
	case tar.TypeReg, tar.TypeRegA, tar.TypeCont, tar.TypeGNUSparse, tar.TypeDir,
		tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return fmt.Errorf("unsupported entry type %q", hdr.Typeflag)
	}
	if hdr.Uid < 0 || hdr.Gid < 0 || int64(hdr.Uid) >= math.MaxUint32 || int64(hdr.Gid) >= math.MaxUint32 {
		return fmt.Errorf("invalid owner %d:%d", hdr.Uid, hdr.Gid)
	}
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "." {
		if hdr.Typeflag != tar.TypeDir {
			return errRootEntry
		}
		return a.rootDir(hdr)
	}
	dir, base := splitName(name)
	if strings.HasPrefix(base, whiteoutPrefix) {
		return a.whiteout(dir, base)
	}

	pfd, err := a.dirs.resolve(dir, true)
	if err != nil {
		return err
	}
	key := name
	if a.created != nil && !a.dirs.lexical {
		key = a.dirs.path(base)
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		err = a.directory(pfd, base, name, hdr)
	case tar.TypeSymlink:
		err = a.symlink(pfd, base, hdr)
	case tar.TypeLink:
		err = a.hardlink(pfd, dir, base, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		err = a.special(pfd, base, hdr)
	default:
		err = a.regular(pfd, base, hdr)
	}
	if err != nil {
		return err
	}
	if a.created != nil {
		a.created[key] = struct{}{}
	}
	return nil
}

// removeAt removes name in dirfd and marks the directory cache stale.
func (a *applier) removeAt(dirfd int, name string) error {
	a.dirs.stale = true
	return removeAt(dirfd, name)
}

// replace makes room for a new entry name in dirfd after a create call
// failed with err: EEXIST removes what is there and returns nil (try
// again), anything else is returned.
func (a *applier) replace(dirfd int, name string, err error) error {
	if err != unix.EEXIST {
		return err
	}
	return a.removeAt(dirfd, name)
}

func (a *applier) regular(pfd int, base string, hdr *tar.Header) error {
	if hdr.Size < 0 {
		return fmt.Errorf("invalid size %d", hdr.Size)
	}
	if a.opts.MaxFileSize > 0 && hdr.Size > a.opts.MaxFileSize {
		return fmt.Errorf("file size %d is over the limit of %d", hdr.Size, a.opts.MaxFileSize)
	}
	var fd int
	for try := 0; ; try++ {
		var err error
		fd, err = openFileAt(pfd, base)
		if err == nil {
			break
		}
		if try > 0 {
			return err
		}
		if err := a.replace(pfd, base, err); err != nil {
			return err
		}
	}
	err := a.writeFile(fd, hdr)
	if err == nil {
		err = a.fdMeta(fd, hdr)
	}
	if err == nil {
		ts := tarTimes(hdr)
		err = futimens(fd, &ts)
	}
	if cerr := unix.Close(fd); err == nil && cerr != nil && cerr != unix.EINTR {
		err = cerr
	}
	return err
}

func openFileAt(dirfd int, name string) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	if len(hdr.PAXRecords) == 0 {
		return false
	}
	for _, k := range [...]string{"GNU.sparse.major", "GNU.sparse.map", "GNU.sparse.numblocks", "GNU.sparse.realsize", "GNU.sparse.size"} {
		if _, ok := hdr.PAXRecords[k]; ok {
			return true
		}
	}
	return false
}

// writeFile copies the entry's data into fd. Sparse entries are written
// without their runs of zero blocks, which are left as holes.
func (a *applier) writeFile(fd int, hdr *tar.Header) error {
	sparse := isSparse(hdr)
	var off int64
	for off < hdr.Size {
		if err := a.canceled(); err != nil {
			return err
		}
		n := int64(len(a.buf))
		if left := hdr.Size - off; left < n {
			n = left
		}
		p := a.buf[:n]
		if _, err := io.ReadFull(a.tr, p); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		var err error
		if sparse {
			err = pwriteSparse(fd, p, off)
		} else {
			err = writeAll(fd, p)
		}
		if err != nil {
			return err
		}
		off += n
	}
	if sparse {
		return unix.Ftruncate(fd, hdr.Size)
	}
	return nil
}

func writeAll(fd int, p []byte) error {
	for len(p) > 0 {
		n, err := unix.Write(fd, p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n <= 0 {
			return io.ErrShortWrite
		}
		p = p[n:]
	}
	return nil
}

func pwriteAll(fd int, p []byte, off int64) error {
	for len(p) > 0 {
		n, err := unix.Pwrite(fd, p, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n <= 0 {
			return io.ErrShortWrite
		}
		p = p[n:]
		off += int64(n)
	}
	return nil
}

// pwriteSparse writes p at offset off, skipping the blocks of p that are
// all zeros. off is a multiple of sparseBlock (p comes in chunks of the
// copy buffer), so the skipped blocks are file system blocks.
func pwriteSparse(fd int, p []byte, off int64) error {
	start := -1 // start of the current run of data blocks
	for i := 0; i < len(p); i += sparseBlock {
		end := min(i+sparseBlock, len(p))
		zero := bytes.Equal(p[i:end], zeroBlock[:end-i])
		if zero && start >= 0 {
			if err := pwriteAll(fd, p[start:i], off+int64(start)); err != nil {
				return err
			}
			start = -1
		} else if !zero && start < 0 {
			start = i
		}
	}
	if start >= 0 {
		return pwriteAll(fd, p[start:], off+int64(start))
	}
	return nil
}

// fdMeta sets owner, mode and xattrs through an open descriptor, in that
// order: chown clears setuid/setgid bits and security.capability.
func (a *applier) fdMeta(fd int, hdr *tar.Header) error {
	if !a.opts.NoLchown {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if err := unix.Fchmod(fd, tarPerm(hdr)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	return a.xattrs(hdr, fd, -1, "")
}

// xattrs sets the entry's xattrs on fd, or if fd is negative on name in
// dirfd without following it.
func (a *applier) xattrs(hdr *tar.Header, fd, dirfd int, name string) error {
	if len(hdr.PAXRecords) == 0 {
		return nil
	}
	for k, v := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(k, xattrPAXPrefix)
		if !ok || !xattrAllowed(attr) {
			continue
		}
		var err error
		if fd >= 0 {
			err = fsetxattr(fd, attr, []byte(v))
		} else {
			err = lsetxattrAt(dirfd, name, attr, []byte(v))
		}
		if err != nil && !xattrSkippable(err, fd < 0, a.opts.NoLchown) {
			return fmt.Errorf("set xattr %s: %w", attr, err)
		}
	}
	return nil
}

// xattrAllowed tells which xattrs of a layer are applied. trusted.overlay.*
// is overlayfs' own control data (opaque, redirect, metacopy, ...): a layer
// must not be able to forge it, only Apply writes it for whiteouts.
func xattrAllowed(name string) bool {
	switch {
	case strings.HasPrefix(name, "user."):
		return len(name) > len("user.")
	case strings.HasPrefix(name, "trusted."):
		return len(name) > len("trusted.") && !strings.HasPrefix(name, "trusted.overlay.")
	default:
		return name == "security.capability"
	}
}

func tarPerm(hdr *tar.Header) uint32 {
	return uint32(hdr.Mode) & 0o7777
}

func boundTime(t time.Time) time.Time {
	if t.Before(minTime) || t.After(maxTime) {
		return minTime
	}
	return t
}

// tarTimes returns the access and modification times of the entry, for
// utimensat and futimens.
func tarTimes(hdr *tar.Header) [2]unix.Timespec {
	mt := boundTime(hdr.ModTime)
	at := mt
	if !hdr.AccessTime.IsZero() {
		at = boundTime(hdr.AccessTime)
	}
	return [2]unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(mt.UnixNano())}
}

func (a *applier) deferTimes(name string, hdr *tar.Header) {
	ts := tarTimes(hdr)
	if i, ok := a.dirTimeIdx[name]; ok {
		a.dirTimes[i].ts = ts
		return
	}
	a.dirTimeIdx[name] = len(a.dirTimes)
	a.dirTimes = append(a.dirTimes, dirTime{name: name, ts: ts})
}

func (a *applier) rootDir(hdr *tar.Header) error {
	if err := a.fdMeta(a.dirs.root, hdr); err != nil {
		return err
	}
	a.deferTimes(".", hdr)
	return nil
}

func (a *applier) directory(pfd int, base, name string, hdr *tar.Header) error {
	for try := 0; ; try++ {
		err := mkdirat(pfd, base, 0o700)
		if err == nil {
			break
		}
		if err != unix.EEXIST || try > 0 {
			return err
		}
		var st unix.Stat_t
		if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			break // a directory over a directory keeps it
		}
		if err := a.removeAt(pfd, base); err != nil {
			return err
		}
	}
	fd, err := openDirAt(pfd, base)
	if err != nil {
		return err
	}
	if err := a.fdMeta(fd, hdr); err != nil {
		unix.Close(fd)
		return err
	}
	a.deferTimes(name, hdr)
	a.dirs.adopt(pfd, base, fd)
	return nil
}

func (a *applier) symlink(pfd int, base string, hdr *tar.Header) error {
	for try := 0; ; try++ {
		err := unix.Symlinkat(hdr.Linkname, pfd, base)
		if err == nil {
			break
		}
		if try > 0 {
			return err
		}
		if err := a.replace(pfd, base, err); err != nil {
			return err
		}
	}
	if !a.opts.NoLchown {
		if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if err := a.xattrs(hdr, -1, pfd, base); err != nil {
		return err
	}
	ts := tarTimes(hdr)
	return unix.UtimesNanoAt(pfd, base, ts[:], unix.AT_SYMLINK_NOFOLLOW)
}

// hardlink links base in pfd to the entry's target, which is resolved like
// any other name of the layer (inside root). The link gets the metadata of
// its target, not of the header (as tar does).
func (a *applier) hardlink(pfd int, dir, base string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return err
	}
	if target == "." {
		return errBadLink
	}
	tdir, tbase := splitName(target)
	tfd := pfd
	if tdir != dir {
		// pfd belongs to the directory stack, which resolving the target
		// changes: keep a descriptor of our own.
		if pfd, err = dupFd(pfd); err != nil {
			return err
		}
		defer unix.Close(pfd)
		if tfd, err = a.dirs.resolve(tdir, false); err != nil {
			return fmt.Errorf("link target %s: %w", hdr.Linkname, err)
		}
	}
	for try := 0; ; try++ {
		err := unix.Linkat(tfd, tbase, pfd, base, 0)
		if err == nil {
			return nil
		}
		if err != unix.EEXIST || try > 0 {
			return fmt.Errorf("link to %s: %w", hdr.Linkname, err)
		}
		var ts, ns unix.Stat_t
		if unix.Fstatat(tfd, tbase, &ts, unix.AT_SYMLINK_NOFOLLOW) == nil &&
			unix.Fstatat(pfd, base, &ns, unix.AT_SYMLINK_NOFOLLOW) == nil &&
			ts.Dev == ns.Dev && ts.Ino == ns.Ino {
			return nil // already that file
		}
		if err := a.removeAt(pfd, base); err != nil {
			return err
		}
	}
}

func (a *applier) special(pfd int, base string, hdr *tar.Header) error {
	var mode uint32
	var dev uint64
	switch hdr.Typeflag {
	case tar.TypeChar, tar.TypeBlock:
		if hdr.Devmajor < 0 || hdr.Devminor < 0 || hdr.Devmajor > math.MaxUint32 || hdr.Devminor > math.MaxUint32 {
			return fmt.Errorf("invalid device number %d,%d", hdr.Devmajor, hdr.Devminor)
		}
		dev = unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		mode = unix.S_IFCHR
		if hdr.Typeflag == tar.TypeBlock {
			mode = unix.S_IFBLK
		}
	default:
		mode = unix.S_IFIFO
	}
	for try := 0; ; try++ {
		err := mknodat(pfd, base, mode|tarPerm(hdr)&0o777, dev)
		if err == nil {
			break
		}
		if mode != unix.S_IFIFO && skipDeviceErr(err, a.opts.NoLchown) {
			return nil
		}
		if try > 0 {
			return err
		}
		if err := a.replace(pfd, base, err); err != nil {
			return err
		}
	}
	if !a.opts.NoLchown {
		if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if err := chmodAt(pfd, base, tarPerm(hdr)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	if err := a.xattrs(hdr, -1, pfd, base); err != nil {
		return err
	}
	ts := tarTimes(hdr)
	return unix.UtimesNanoAt(pfd, base, ts[:], unix.AT_SYMLINK_NOFOLLOW)
}

// whiteout applies ".wh.NAME" and ".wh..wh..opq" entries of directory dir.
// As the OCI image spec says, a whiteout only hides content of lower
// layers: what this layer itself created stays.
func (a *applier) whiteout(dir, base string) error {
	overlay := a.opts.Whiteouts == snapshot.WhiteoutOverlay
	if base == whiteoutOpaque {
		if overlay {
			fd, err := a.dirs.resolve(dir, true)
			if err != nil {
				return err
			}
			return setOpaque(fd)
		}
		fd, err := a.dirs.resolve(dir, false)
		if err != nil {
			if err == unix.ENOENT || err == unix.ENOTDIR {
				return nil // nothing below to hide
			}
			return err
		}
		real := dir
		if !a.dirs.lexical {
			real = a.dirs.path("")
		}
		return a.clearLower(fd, real, 0)
	}
	if strings.HasPrefix(base, whiteoutMetaPrefix) {
		return nil // other aufs metadata (.wh..wh.plnk, ...): nothing to do
	}
	target := base[len(whiteoutPrefix):]
	if target == "" || target == "." || target == ".." {
		return errBadWhiteout
	}
	if overlay {
		pfd, err := a.dirs.resolve(dir, true)
		if err != nil {
			return err
		}
		var st unix.Stat_t
		err = unix.Fstatat(pfd, target, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == nil {
			return nil // made by this layer: the upper dir holds nothing else
		}
		if err != unix.ENOENT {
			return err
		}
		return mkWhiteout(pfd, target)
	}
	pfd, err := a.dirs.resolve(dir, false)
	if err != nil {
		if err == unix.ENOENT || err == unix.ENOTDIR {
			return nil
		}
		return err
	}
	key := path.Join(dir, target)
	if !a.dirs.lexical {
		key = a.dirs.path(target)
	}
	if _, ok := a.created[key]; ok {
		return nil
	}
	return a.removeAt(pfd, target)
}

// clearLower removes from the directory fd (real path dirPath) everything
// this layer did not create, and from the directories it did create
// everything below them that it did not create either, as an opaque
// directory hides all of the lower layers' content.
func (a *applier) clearLower(fd int, dirPath string, depth int) error {
	if depth >= maxDepth {
		return errTooDeep
	}
	names, err := readDirNames(fd)
	if err != nil {
		return err
	}
	for _, n := range names {
		p := n
		if dirPath != "" {
			p = dirPath + "/" + n
		}
		if _, ok := a.created[p]; !ok {
			if err := a.removeAt(fd, n); err != nil {
				return err
			}
			continue
		}
		cfd, err := openDirAt(fd, n)
		if err != nil {
			if isNotDirErr(err) {
				continue
			}
			return err
		}
		err = a.clearLower(cfd, p, depth+1)
		unix.Close(cfd)
		if err != nil {
			return err
		}
	}
	return nil
}

// finish sets the times of the directories of the layer, now that nothing
// more is created in them. Each one is found again from root; one that was
// since removed or replaced by a non-directory is skipped.
func (a *applier) finish() error {
	for i := range a.dirTimes {
		d := &a.dirTimes[i]
		if d.name == "." {
			if err := unix.UtimesNanoAt(a.dirs.root, ".", d.ts[:], 0); err != nil {
				return fmt.Errorf("apply %q: set times: %w", d.name, err)
			}
			continue
		}
		dir, base := splitName(d.name)
		pfd, err := a.dirs.resolve(dir, false)
		if err != nil {
			if err == unix.ENOENT || err == unix.ENOTDIR || err == unix.ELOOP {
				continue
			}
			return fmt.Errorf("apply %q: set times: %w", d.name, err)
		}
		var st unix.Stat_t
		if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		if err := unix.UtimesNanoAt(pfd, base, d.ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("apply %q: set times: %w", d.name, err)
		}
	}
	return nil
}
