package build

import (
	"archive/tar"
	"bufio"
	"compress/bzip2"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/stockade/stockade/image"
)

// rootView is the root file system of the stage so far, read-only: what
// a COPY's destination and parent directories are, and the names of
// --chown. An empty dir is the empty root of FROM scratch.
type rootView struct{ dir string }

// lstat returns what the image has at the absolute path p, its symlinks
// resolved inside the root; ok is false when nothing is there.
func (v rootView) lstat(p string) (fi fs.FileInfo, real string, ok bool) {
	if v.dir == "" {
		return nil, path.Clean(p), false
	}
	host, err := securejoin.SecureJoin(v.dir, p)
	if err != nil {
		return nil, path.Clean(p), false
	}
	real = "/" + filepath.ToSlash(strings.TrimPrefix(strings.TrimPrefix(host, v.dir), "/"))
	fi, err = os.Lstat(host)
	return fi, path.Clean(real), err == nil
}

func (v rootView) isDir(p string) bool {
	fi, _, ok := v.lstat(p)
	return ok && fi.IsDir()
}

// entry is one member of a COPY or ADD layer.
type entry struct {
	hdr tar.Header
	// host is the regular file whose content goes in; open reads it from
	// an archive member instead.
	host string
}

// copySpec is a COPY or ADD after expansion.
type copySpec struct {
	sources []string
	dest    string // as typed, expanded
	workdir string
	chown   string
	chmod   string
	add     bool // ADD: local archives are extracted
	// from is the tree the sources come from.
	from *tree
	// keepOwner keeps the sources' owners (another stage's or image's
	// files); context files are root's.
	keepOwner bool
}

// copyPlan is what a COPY or ADD writes: the entries in order, parents
// first, and the archives to extract at their destinations.
type copyPlan struct {
	entries  []entry
	archives []archiveSource
	// isDir tells whether the image has a directory at a path already.
	isDir func(string) bool
	// digest covers every name, type, mode, owner, link target and content
	// the step takes: the cache key's part for the files.
	digest string
}

type archiveSource struct {
	host string
	dest string // directory, absolute, resolved
}

// parseChmod reads --chmod's octal mode.
func parseChmod(s string) (fs.FileMode, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 {
		return 0, fmt.Errorf("--chmod=%s: want an octal mode such as 0755", s)
	}
	return fs.FileMode(v), nil
}

// resolveUser turns USER[:GROUP] (names or numbers) into ids, names read
// from the root's /etc/passwd and /etc/group. A user without a group
// takes the user's primary group (a number alone, the same number).
func (v rootView) resolveUser(spec string) (uid, gid int, err error) {
	user, group, hasGroup := strings.Cut(spec, ":")
	if user == "" {
		return 0, 0, fmt.Errorf("--chown=%s: no user", spec)
	}
	uid, primary, err := v.lookup("/etc/passwd", user, 2, 3)
	if err != nil {
		return 0, 0, fmt.Errorf("--chown=%s: %w", spec, err)
	}
	gid = primary
	if hasGroup {
		if gid, _, err = v.lookup("/etc/group", group, 2, -1); err != nil {
			return 0, 0, fmt.Errorf("--chown=%s: %w", spec, err)
		}
	}
	return uid, gid, nil
}

// lookup finds name (or a number) in a colon-separated database: the id
// in field idField, and another number in field extra (-1: none; a number
// alone gives itself).
func (v rootView) lookup(db, name string, idField, extra int) (int, int, error) {
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		second := n
		if extra >= 0 {
			if fi, _, ok := v.lstat(db); ok && fi.Mode().IsRegular() {
				if f, err := v.scan(db, func(fields []string) bool { return fields[idField] == name }); err == nil && len(f) > extra {
					if g, err := strconv.Atoi(f[extra]); err == nil {
						second = g
					}
				}
			}
		}
		return n, second, nil
	}
	f, err := v.scan(db, func(fields []string) bool { return fields[0] == name })
	if err != nil {
		return 0, 0, err
	}
	if f == nil {
		return 0, 0, fmt.Errorf("%s: no %q in the image's %s", name, name, db)
	}
	id, err := strconv.Atoi(f[idField])
	if err != nil {
		return 0, 0, fmt.Errorf("%s: bad entry for %s", db, name)
	}
	second := id
	if extra >= 0 && len(f) > extra {
		if second, err = strconv.Atoi(f[extra]); err != nil {
			return 0, 0, fmt.Errorf("%s: bad entry for %s", db, name)
		}
	}
	return id, second, nil
}

func (v rootView) scan(db string, match func([]string) bool) ([]string, error) {
	if v.dir == "" {
		return nil, fmt.Errorf("the image has no %s", db)
	}
	host, err := securejoin.SecureJoin(v.dir, db)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(host)
	if err != nil {
		return nil, fmt.Errorf("the image has no %s", db)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 4 && match(fields) {
			return fields, nil
		}
	}
	return nil, sc.Err()
}

// plan resolves the sources of spec and lays out the entries over the
// root view. Errors name the source as the user typed it.
func (spec copySpec) plan(view rootView, now time.Time) (*copyPlan, error) {
	mode, err := parseChmod(spec.chmod)
	if err != nil {
		return nil, err
	}
	uid, gid := 0, 0
	chown := spec.chown != ""
	if chown {
		if uid, gid, err = view.resolveUser(spec.chown); err != nil {
			return nil, err
		}
	}
	var all []source
	for _, s := range spec.sources {
		if strings.Contains(s, "://") {
			return nil, fmt.Errorf("%s: ADD of a URL is not supported (download it in a RUN, or beside the Containerfile)", s)
		}
		found, err := spec.from.find(s)
		if err != nil {
			return nil, sourceError(s, err)
		}
		all = append(all, found...)
	}
	dest := spec.dest
	if !path.IsAbs(dest) {
		wd := spec.workdir
		if wd == "" {
			wd = "/"
		}
		dest = path.Join(wd, dest) + map[bool]string{true: "/"}[strings.HasSuffix(dest, "/") || dest == "."]
	}
	destDir := strings.HasSuffix(dest, "/") || view.isDir(dest)
	if len(all) > 1 && !destDir {
		return nil, fmt.Errorf("%s: with more than one source the destination must be a directory ending in /", spec.dest)
	}
	_, realDest, _ := view.lstat(dest)
	p := &copyPlan{isDir: view.isDir}
	made := map[string]bool{}
	var mkParents func(dir string)
	mkParents = func(dir string) {
		if dir == "/" || made[dir] {
			return
		}
		mkParents(path.Dir(dir))
		made[dir] = true
		if view.isDir(dir) {
			return
		}
		// Directories made for the destination are root's, or --chown's
		// owner's (as buildah and buildkit do).
		p.entries = append(p.entries, entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, Uid: uid, Gid: gid, ModTime: now}})
	}
	links := map[[2]uint64]string{}
	add := func(dst string, fi fs.FileInfo, host string) error {
		mkParents(path.Dir(dst))
		made[dst] = true
		h := tar.Header{Name: dst, Mode: int64(fi.Mode().Perm()), ModTime: fi.ModTime()}
		if fi.Mode()&fs.ModeSetuid != 0 {
			h.Mode |= 0o4000
		}
		if fi.Mode()&fs.ModeSetgid != 0 {
			h.Mode |= 0o2000
		}
		if fi.Mode()&fs.ModeSticky != 0 {
			h.Mode |= 0o1000
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		if spec.keepOwner && st != nil {
			h.Uid, h.Gid = int(st.Uid), int(st.Gid)
		}
		if chown {
			h.Uid, h.Gid = uid, gid
		}
		if mode != 0 {
			h.Mode = int64(mode)
		}
		e := entry{}
		switch {
		case fi.Mode().IsRegular():
			h.Typeflag, h.Size = tar.TypeReg, fi.Size()
			if st != nil && st.Nlink > 1 {
				k := [2]uint64{uint64(st.Dev), uint64(st.Ino)}
				if first, ok := links[k]; ok {
					h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
					break
				}
				links[k] = dst
			}
			e.host = host
		case fi.IsDir():
			h.Typeflag = tar.TypeDir
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(host)
			if err != nil {
				return err
			}
			h.Typeflag, h.Linkname = tar.TypeSymlink, target
			if mode != 0 {
				h.Mode = 0o777
			}
		default:
			return nil // devices, sockets and fifos are not copied
		}
		e.hdr = h
		p.entries = append(p.entries, e)
		return nil
	}
	for _, src := range all {
		if src.info.IsDir() {
			// A directory's contents go into the destination, made if
			// missing (0755, not the source directory's mode).
			mkParents(realDest)
			err := filepath.WalkDir(src.host, func(hp string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if hp == src.host {
					return nil
				}
				rel := filepath.ToSlash(strings.TrimPrefix(hp, src.host+string(filepath.Separator)))
				if spec.from.ignored(path.Join(src.rel, rel)) {
					if d.IsDir() && (spec.from.ctx.ignore == nil || !spec.from.ctx.ignore.Exclusions()) {
						return filepath.SkipDir
					}
					return nil
				}
				fi, err := d.Info()
				if err != nil {
					return err
				}
				return add(path.Join(realDest, rel), fi, hp)
			})
			if err != nil {
				return nil, fmt.Errorf("source %q: %w", src.rel, err)
			}
			continue
		}
		dst := realDest
		if destDir {
			dst = path.Join(realDest, path.Base("/"+src.rel))
		}
		if spec.add && src.info.Mode().IsRegular() {
			if ok, err := isArchive(src.host); err != nil {
				return nil, fmt.Errorf("source %q: %w", src.rel, err)
			} else if ok {
				dir := realDest
				mkParents(dir)
				p.archives = append(p.archives, archiveSource{host: src.host, dest: dir})
				continue
			}
		}
		if err := add(dst, src.info, src.host); err != nil {
			return nil, fmt.Errorf("source %q: %w", src.rel, err)
		}
	}
	d, err := p.hash()
	if err != nil {
		return nil, err
	}
	p.digest = d
	return p, nil
}

// hash digests every entry (with content) and every archive.
func (p *copyPlan) hash() (string, error) {
	h := sha256.New()
	for _, e := range p.entries {
		fmt.Fprintf(h, "%c %q %o %d:%d %q\n", e.hdr.Typeflag, e.hdr.Name, e.hdr.Mode, e.hdr.Uid, e.hdr.Gid, e.hdr.Linkname)
		if e.host != "" {
			if err := hashFile(h, e.host); err != nil {
				return "", err
			}
		}
	}
	for _, a := range p.archives {
		fmt.Fprintf(h, "archive %q\n", a.dest)
		if err := hashFile(h, a.host); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashFile(h hash.Hash, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	fh := sha256.New()
	if _, err := io.Copy(fh, f); err != nil {
		return err
	}
	fmt.Fprintf(h, "content %x\n", fh.Sum(nil))
	return nil
}

// write writes the plan as an uncompressed layer tar.
func (p *copyPlan) write(ctx context.Context, w io.Writer) error {
	tw := tar.NewWriter(w)
	names := map[string]bool{}
	for _, e := range p.entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		h := e.hdr
		h.Name = tarName(h.Name, h.Typeflag == tar.TypeDir)
		if h.Typeflag == tar.TypeLink {
			h.Linkname = tarName(h.Linkname, false)
		}
		names[strings.TrimSuffix(h.Name, "/")] = true
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			return err
		}
		if e.host != "" && h.Typeflag == tar.TypeReg {
			if err := copyFile(tw, e.host, h.Size); err != nil {
				return err
			}
		}
	}
	for _, a := range p.archives {
		if err := extract(ctx, tw, a, names, p.isDir); err != nil {
			return err
		}
	}
	return tw.Close()
}

func tarName(p string, dir bool) string {
	n := strings.TrimPrefix(path.Clean(p), "/")
	if dir {
		n += "/"
	}
	return n
}

func copyFile(w io.Writer, name string, size int64) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(w, io.LimitReader(f, size))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("%s: changed while being copied", name)
	}
	return nil
}

// openArchive opens a local archive: a tar, maybe gzip, zstd or bzip2
// compressed.
func openArchive(name string) (io.ReadCloser, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(f)
	head, _ := br.Peek(3)
	var r io.Reader = br
	var rc io.ReadCloser
	if string(head) == "BZh" {
		r = bzip2.NewReader(br)
	} else {
		if rc, _, err = image.Decompress(br); err != nil {
			f.Close()
			return nil, err
		}
		r = rc
	}
	return struct {
		io.Reader
		io.Closer
	}{r, closers{rc, f}}, nil
}

type closers []io.Closer

func (c closers) Close() error {
	for _, x := range c {
		if x != nil {
			x.Close()
		}
	}
	return nil
}

// isArchive tells whether a file is a tar ADD extracts.
func isArchive(name string) (bool, error) {
	r, err := openArchive(name)
	if err != nil {
		return false, nil
	}
	defer r.Close()
	var block [512]byte
	if _, err := io.ReadFull(r, block[:]); err != nil {
		return false, nil
	}
	return string(block[257:262]) == "ustar" || isV7Tar(block[:]), nil
}

// isV7Tar checks an old tar header by its checksum.
func isV7Tar(b []byte) bool {
	chk, err := strconv.ParseUint(strings.TrimRight(strings.TrimSpace(string(b[148:156])), "\x00 "), 8, 32)
	if err != nil || b[0] == 0 {
		return false
	}
	var sum uint64
	for i, c := range b {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += uint64(c)
	}
	return sum == chk
}

// extract copies an archive's members under a.dest into the layer,
// adding the parent directories it lacks. Members are contained: their
// names are cleaned below dest; a whiteout name is refused.
func extract(ctx context.Context, tw *tar.Writer, a archiveSource, names map[string]bool, isDir func(string) bool) error {
	r, err := openArchive(a.host)
	if err != nil {
		return err
	}
	defer r.Close()
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(a.host), err)
		}
		rel := path.Clean("/" + h.Name)
		if strings.HasPrefix(path.Base(rel), ".wh.") {
			return fmt.Errorf("%s: member %s: whiteout names cannot be extracted", filepath.Base(a.host), h.Name)
		}
		if rel == "/" {
			continue
		}
		dst := path.Join(a.dest, rel)
		for _, dir := range parents(dst) {
			n := strings.TrimPrefix(dir, "/")
			if names[n] || isDir(dir) {
				continue
			}
			names[n] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: n + "/", Mode: 0o755, ModTime: h.ModTime, Format: tar.FormatPAX}); err != nil {
				return err
			}
		}
		out := *h
		out.Name = tarName(dst, h.Typeflag == tar.TypeDir)
		if h.Typeflag == tar.TypeLink {
			out.Linkname = tarName(path.Join(a.dest, path.Clean("/"+h.Linkname)), false)
		}
		out.Format = tar.FormatPAX
		out.Uname, out.Gname = "", ""
		names[strings.TrimSuffix(out.Name, "/")] = true
		if err := tw.WriteHeader(&out); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := io.Copy(tw, tr); err != nil {
				return err
			}
		}
	}
}

// parents lists the directories above p, outermost first, without "/".
func parents(p string) []string {
	var out []string
	for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
		out = append(out, d)
	}
	sort.Strings(out) // a parent's name is a prefix of its child's
	return out
}
