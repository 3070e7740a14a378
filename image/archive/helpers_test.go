//go:build linux || freebsd

package archive

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ent is one entry of a test tar.
type ent struct {
	name   string
	typ    byte
	body   string
	link   string
	mode   int64
	uid    int
	gid    int
	mtime  time.Time
	atime  time.Time
	major  int64
	minor  int64
	xattrs map[string]string
}

var testTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

func file(name, body string) ent { return ent{name: name, typ: tar.TypeReg, body: body, mode: 0o644} }
func dir(name string) ent        { return ent{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, target string) ent {
	return ent{name: name, typ: tar.TypeSymlink, link: target, mode: 0o777}
}
func hardlink(name, target string) ent {
	return ent{name: name, typ: tar.TypeLink, link: target, mode: 0o644}
}
func whiteout(name string) ent { return ent{name: name, typ: tar.TypeReg, mode: 0o644} }

// mkTar writes the entries as a PAX tar.
func mkTar(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{
			Typeflag: e.typ,
			Name:     e.name,
			Linkname: e.link,
			Mode:     e.mode,
			Uid:      e.uid,
			Gid:      e.gid,
			ModTime:  e.mtime,
			Devmajor: e.major,
			Devminor: e.minor,
			Format:   tar.FormatPAX,
		}
		if h.ModTime.IsZero() {
			h.ModTime = testTime
		}
		if !e.atime.IsZero() {
			h.AccessTime = e.atime
		}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if len(e.xattrs) > 0 {
			h.PAXRecords = map[string]string{}
			for k, v := range e.xattrs {
				h.PAXRecords["SCHILY.xattr."+k] = v
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar header %s: %v", e.name, err)
		}
		if h.Size > 0 {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// node is what a tree snapshot records of one path.
type node struct {
	mode  uint32
	uid   uint32
	gid   uint32
	size  int64
	nlink uint64
	rdev  uint64
	mtime int64
	sum   string // content digest or link target
	xattr string
}

// snapTree records every path under dir (relative), skipping the paths in
// skip (relative to dir) and what is below them.
func snapTree(t testing.TB, dir string, skip ...string) map[string]node {
	t.Helper()
	out := map[string]node{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		for _, s := range skip {
			if rel == s {
				return filepath.SkipDir
			}
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		n := node{
			mode: uint32(st.Mode), uid: st.Uid, gid: st.Gid, size: st.Size,
			nlink: uint64(st.Nlink), rdev: uint64(st.Rdev),
			mtime: st.Mtim.Nano(),
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			n.sum = hex.EncodeToString(h[:])
		case unix.S_IFLNK:
			n.sum, _ = os.Readlink(p)
		}
		n.xattr = listXattrs(p)
		out[rel] = n
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", dir, err)
	}
	return out
}

func listXattrs(p string) string {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n <= 0 {
		return ""
	}
	var parts []string
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		v := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(p, name, v)
		if err != nil {
			parts = append(parts, name+"=?")
			continue
		}
		parts = append(parts, name+"="+string(v[:m]))
	}
	sort.Strings(parts)
	return strings.Join(parts, ";")
}

func diffTrees(before, after map[string]node) []string {
	var d []string
	for k, b := range before {
		a, ok := after[k]
		switch {
		case !ok:
			d = append(d, "removed "+k)
		case a != b:
			d = append(d, fmt.Sprintf("changed %s: %+v -> %+v", k, b, a))
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			d = append(d, "added "+k)
		}
	}
	sort.Strings(d)
	return d
}

// jail is a test layout: top/jail/root is the root Apply writes to, and
// top/sentinel (and top/jail/sentinel2) hold files nothing may touch.
type jail struct {
	top, root, sentinel string
}

func newJail(t testing.TB) jail {
	t.Helper()
	return newJailIn(t, t.TempDir())
}

// fastTempDir returns a new temporary directory on a tmpfs when there is
// one (/dev/shm): the fuzz target creates thousands of small trees, and a
// disk file system can take milliseconds per metadata change.
func fastTempDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp(fastTempBase(), "stockade-archive-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func fastTempBase() string {
	if unix.Access("/dev/shm", unix.W_OK) == nil {
		return "/dev/shm"
	}
	return os.TempDir()
}

// fuzzCleanup lists directories removed when the test process ends.
var fuzzCleanup []string

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range fuzzCleanup {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

func newJailIn(t testing.TB, top string) jail {
	t.Helper()
	j := jail{top: top, root: filepath.Join(top, "jail", "root"), sentinel: filepath.Join(top, "sentinel")}
	must(t, os.MkdirAll(j.root, 0o755))
	must(t, os.MkdirAll(filepath.Join(j.sentinel, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(j.sentinel, "file"), []byte("sentinel data\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(j.sentinel, "passwd"), []byte("root:x:0:0::/root:/bin/sh\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(j.sentinel, "sub", "file2"), []byte("more sentinel data\n"), 0o640))
	must(t, os.Symlink("file", filepath.Join(j.sentinel, "link")))
	must(t, os.MkdirAll(filepath.Join(top, "jail", "sentinel2"), 0o700))
	must(t, os.WriteFile(filepath.Join(top, "jail", "sentinel2", "x"), []byte("x"), 0o600))
	old := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range []string{"file", "passwd", "sub/file2", "sub", "."} {
		must(t, os.Chtimes(filepath.Join(j.sentinel, p), old, old))
	}
	return j
}

// outside snapshots everything of the jail but root.
func (j jail) outside(t testing.TB) map[string]node {
	return snapTree(t, j.top, filepath.Join("jail", "root"))
}

// asUser sets NoLchown when the tests do not run as root, so that the
// cases that do not need root pass unprivileged too.
func asUser(o Options) Options {
	if os.Geteuid() != 0 {
		o.NoLchown = true
	}
	return o
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func lstat(t testing.TB, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("lstat %s: %v", p, err)
	}
	return st
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
