//go:build linux || freebsd

package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/internal/testenv"
	"github.com/stockade/stockade/snapshot"
)

func isRoot() bool { return os.Geteuid() == 0 }

func wantMode(t *testing.T, p string, typ, perm uint32) {
	t.Helper()
	st := lstat(t, p)
	if uint32(st.Mode)&unix.S_IFMT != typ || uint32(st.Mode)&0o7777 != perm {
		t.Errorf("%s: mode %o, want type %o perm %o", p, st.Mode, typ, perm)
	}
}

func wantOwner(t *testing.T, p string, uid, gid uint32) {
	t.Helper()
	st := lstat(t, p)
	if st.Uid != uid || st.Gid != gid {
		t.Errorf("%s: owner %d:%d, want %d:%d", p, st.Uid, st.Gid, uid, gid)
	}
}

func wantMtime(t *testing.T, p string, want time.Time) {
	t.Helper()
	st := lstat(t, p)
	if got := time.Unix(st.Mtim.Unix()); !got.Equal(want) {
		t.Errorf("%s: mtime %v, want %v", p, got.UTC(), want)
	}
}

func wantContent(t *testing.T, p, want string) {
	t.Helper()
	if got := readFile(t, p); got != want {
		t.Errorf("%s: content %q, want %q", p, got, want)
	}
}

func wantGone(t *testing.T, p string) {
	t.Helper()
	if exists(p) {
		t.Errorf("%s exists, want it gone", p)
	}
}

func wantXattr(t *testing.T, p, name, want string) {
	t.Helper()
	buf := make([]byte, 4096)
	n, err := unix.Lgetxattr(p, name, buf)
	if err != nil {
		t.Errorf("%s: xattr %s: %v", p, name, err)
		return
	}
	if got := string(buf[:n]); got != want {
		t.Errorf("%s: xattr %s = %q, want %q", p, name, got, want)
	}
}

func wantNoXattr(t *testing.T, p, name string) {
	t.Helper()
	buf := make([]byte, 4096)
	if _, err := unix.Lgetxattr(p, name, buf); err == nil {
		t.Errorf("%s: unexpected xattr %s", p, name)
	}
}

func wantWhiteoutDev(t *testing.T, p string) {
	t.Helper()
	st := lstat(t, p)
	if uint32(st.Mode)&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("%s: mode %o rdev %d, want a 0/0 char device", p, st.Mode, st.Rdev)
	}
}

func sameInode(t *testing.T, a, b string) {
	t.Helper()
	sa, sb := lstat(t, a), lstat(t, b)
	if sa.Dev != sb.Dev || sa.Ino != sb.Ino {
		t.Errorf("%s and %s are not the same file", a, b)
	}
}

// lowerTree makes the content a parent layer would have left in root.
func lowerTree(t *testing.T, root string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Join(root, "etc", "conf.d"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("lower passwd"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "etc", "conf.d", "a.conf"), []byte("a"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "etc", "conf.d", "b.conf"), []byte("b"), 0o644))
	must(t, os.MkdirAll(filepath.Join(root, "etc", "conf.d", "deep", "er"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "etc", "conf.d", "deep", "er", "x"), []byte("x"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "etc", "conf.d", "deep", "y"), []byte("y"), 0o644))
	must(t, os.MkdirAll(filepath.Join(root, "var", "lib"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "var", "lib", "db"), []byte("db"), 0o600))
	must(t, os.Symlink("/etc/passwd", filepath.Join(root, "passwd-link")))
	must(t, os.WriteFile(filepath.Join(root, "bin"), []byte("lower bin file"), 0o755))
}

type applyCase struct {
	name      string
	opts      Options
	root      bool // needs root (chown, mknod, trusted xattrs)
	linuxOnly bool
	lower     func(t *testing.T, root string)
	ents      []ent
	data      func(t *testing.T) []byte // instead of ents
	wantErr   string
	check     func(t *testing.T, root string)
}

func TestApply(t *testing.T) {
	mt := time.Date(2010, 5, 6, 7, 8, 9, 0, time.UTC)
	at := time.Date(2011, 1, 1, 0, 0, 0, 0, time.UTC)
	overlay := Options{Whiteouts: snapshot.WhiteoutOverlay}
	cases := []applyCase{
		{
			name: "regular file with owner, mode and times",
			root: true,
			ents: []ent{
				{name: "f", typ: tar.TypeReg, body: "hello\n", mode: 0o640, uid: 1234, gid: 5678, mtime: mt, atime: at},
				{name: "empty", typ: tar.TypeReg, mode: 0o600},
			},
			check: func(t *testing.T, root string) {
				p := filepath.Join(root, "f")
				st := lstat(t, p) // before reading it changes the atime
				if got := time.Unix(st.Atim.Unix()); !got.Equal(at) {
					t.Errorf("atime %v, want %v", got, at)
				}
				wantContent(t, p, "hello\n")
				wantMode(t, p, unix.S_IFREG, 0o640)
				wantOwner(t, p, 1234, 5678)
				wantMtime(t, p, mt)
				wantContent(t, filepath.Join(root, "empty"), "")
			},
		},
		{
			name: "setuid setgid sticky survive chown",
			root: true,
			ents: []ent{
				{name: "suid", typ: tar.TypeReg, body: "x", mode: 0o4755, uid: 1000, gid: 1000},
				{name: "sgid", typ: tar.TypeReg, body: "x", mode: 0o2711, uid: 1000, gid: 50},
				{name: "tmp", typ: tar.TypeDir, mode: 0o1777, uid: 0, gid: 0},
				{name: "sgiddir", typ: tar.TypeDir, mode: 0o2775, uid: 1000, gid: 1000},
			},
			check: func(t *testing.T, root string) {
				wantMode(t, filepath.Join(root, "suid"), unix.S_IFREG, 0o4755)
				wantOwner(t, filepath.Join(root, "suid"), 1000, 1000)
				wantMode(t, filepath.Join(root, "sgid"), unix.S_IFREG, 0o2711)
				wantMode(t, filepath.Join(root, "tmp"), unix.S_IFDIR, 0o1777)
				wantMode(t, filepath.Join(root, "sgiddir"), unix.S_IFDIR, 0o2775)
				wantOwner(t, filepath.Join(root, "sgiddir"), 1000, 1000)
			},
		},
		{
			name: "NoLchown leaves the owner alone",
			opts: Options{NoLchown: true},
			ents: []ent{{name: "f", typ: tar.TypeReg, body: "x", mode: 0o644, uid: 4321, gid: 4321}},
			check: func(t *testing.T, root string) {
				wantOwner(t, filepath.Join(root, "f"), uint32(os.Geteuid()), uint32(os.Getegid()))
			},
		},
		{
			name: "directories, implicit parents and directory times",
			ents: []ent{
				{name: "a/", typ: tar.TypeDir, mode: 0o750, mtime: mt},
				{name: "a/b/c/file", typ: tar.TypeReg, body: "deep", mode: 0o644},
				{name: "a/x", typ: tar.TypeReg, body: "x", mode: 0o644},
				{name: "a/b/", typ: tar.TypeDir, mode: 0o711, mtime: mt.Add(time.Hour)},
				{name: "a/b/late", typ: tar.TypeReg, body: "late", mode: 0o644},
			},
			check: func(t *testing.T, root string) {
				wantMode(t, filepath.Join(root, "a"), unix.S_IFDIR, 0o750)
				wantMtime(t, filepath.Join(root, "a"), mt)
				wantMode(t, filepath.Join(root, "a/b"), unix.S_IFDIR, 0o711)
				wantMtime(t, filepath.Join(root, "a/b"), mt.Add(time.Hour))
				wantMode(t, filepath.Join(root, "a/b/c"), unix.S_IFDIR, 0o755)
				wantContent(t, filepath.Join(root, "a/b/c/file"), "deep")
				wantContent(t, filepath.Join(root, "a/b/late"), "late")
			},
		},
		{
			name: "odd but harmless names",
			ents: []ent{
				{name: "./dot/", typ: tar.TypeDir, mode: 0o755},
				{name: "./dot//f", typ: tar.TypeReg, body: "1", mode: 0o644},
				{name: "/abs/f", typ: tar.TypeReg, body: "2", mode: 0o644},
				{name: "x/../y", typ: tar.TypeReg, body: "3", mode: 0o644},
				{name: "/../../z", typ: tar.TypeReg, body: "4", mode: 0o644},
			},
			check: func(t *testing.T, root string) {
				wantContent(t, filepath.Join(root, "dot/f"), "1")
				wantContent(t, filepath.Join(root, "abs/f"), "2")
				wantContent(t, filepath.Join(root, "y"), "3")
				wantContent(t, filepath.Join(root, "z"), "4")
				wantGone(t, filepath.Join(root, "x"))
			},
		},
		{
			name: "root entry sets the root's mode and times",
			ents: []ent{
				{name: "./", typ: tar.TypeDir, mode: 0o711, mtime: mt},
				{name: "./f", typ: tar.TypeReg, body: "x", mode: 0o644},
			},
			check: func(t *testing.T, root string) {
				wantMode(t, root, unix.S_IFDIR, 0o711)
				wantMtime(t, root, mt)
			},
		},
		{
			name:    "root entry must be a directory",
			ents:    []ent{{name: ".", typ: tar.TypeReg, mode: 0o644}},
			wantErr: "root directory",
		},
		{
			name: "symlinks",
			root: true,
			ents: []ent{
				{name: "rel", typ: tar.TypeSymlink, link: "target/file", uid: 7, gid: 8, mtime: mt},
				{name: "abs", typ: tar.TypeSymlink, link: "/etc/passwd"},
				{name: "dangling", typ: tar.TypeSymlink, link: "../../../nowhere"},
			},
			check: func(t *testing.T, root string) {
				for name, want := range map[string]string{"rel": "target/file", "abs": "/etc/passwd", "dangling": "../../../nowhere"} {
					got, err := os.Readlink(filepath.Join(root, name))
					if err != nil || got != want {
						t.Errorf("readlink %s = %q, %v; want %q", name, got, err, want)
					}
				}
				wantOwner(t, filepath.Join(root, "rel"), 7, 8)
				wantMtime(t, filepath.Join(root, "rel"), mt)
			},
		},
		{
			name:  "hardlinks within the layer and to a lower layer",
			lower: lowerTree,
			ents: []ent{
				file("bin", ""), // replaced below by a dir
				{name: "bin/", typ: tar.TypeDir, mode: 0o755},
				{name: "bin/busybox", typ: tar.TypeReg, body: "BB", mode: 0o755},
				hardlink("bin/sh", "bin/busybox"),
				hardlink("sbin/init", "/bin/busybox"),
				hardlink("passwd-copy", "etc/passwd"),
				hardlink("bin/sh", "bin/busybox"), // again: already that file
				hardlink("link-to-link", "passwd-link"),
			},
			check: func(t *testing.T, root string) {
				sameInode(t, filepath.Join(root, "bin/sh"), filepath.Join(root, "bin/busybox"))
				sameInode(t, filepath.Join(root, "sbin/init"), filepath.Join(root, "bin/busybox"))
				sameInode(t, filepath.Join(root, "passwd-copy"), filepath.Join(root, "etc/passwd"))
				sameInode(t, filepath.Join(root, "link-to-link"), filepath.Join(root, "passwd-link"))
				if st := lstat(t, filepath.Join(root, "bin/busybox")); st.Nlink != 3 {
					t.Errorf("nlink %d, want 3", st.Nlink)
				}
				wantContent(t, filepath.Join(root, "passwd-copy"), "lower passwd")
			},
		},
		{
			name:    "hardlink to a missing file fails",
			ents:    []ent{hardlink("x", "missing")},
			wantErr: `apply "x"`,
		},
		{
			name:    "hardlink to a directory fails",
			ents:    []ent{dir("d"), hardlink("x", "d")},
			wantErr: `apply "x"`,
		},
		{
			name: "devices and fifos",
			root: true,
			ents: []ent{
				{name: "dev/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3, mtime: mt},
				{name: "dev/loop0", typ: tar.TypeBlock, mode: 0o660, major: 7, minor: 0, gid: 6},
				{name: "dev/big", typ: tar.TypeChar, mode: 0o600, major: 4095, minor: 1 << 19},
				{name: "fifo", typ: tar.TypeFifo, mode: 0o4620, uid: 3},
			},
			linuxOnly: true,
			check: func(t *testing.T, root string) {
				for _, c := range []struct {
					p            string
					typ, perm    uint32
					major, minor uint32
				}{
					{"dev/null", unix.S_IFCHR, 0o666, 1, 3},
					{"dev/loop0", unix.S_IFBLK, 0o660, 7, 0},
					{"dev/big", unix.S_IFCHR, 0o600, 4095, 1 << 19},
					{"fifo", unix.S_IFIFO, 0o4620, 0, 0},
				} {
					p := filepath.Join(root, c.p)
					wantMode(t, p, c.typ, c.perm)
					st := lstat(t, p)
					if c.typ != unix.S_IFIFO && (unix.Major(uint64(st.Rdev)) != c.major || unix.Minor(uint64(st.Rdev)) != c.minor) {
						t.Errorf("%s: rdev %d,%d want %d,%d", c.p, unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)), c.major, c.minor)
					}
				}
				wantOwner(t, filepath.Join(root, "dev/loop0"), 0, 6)
				wantOwner(t, filepath.Join(root, "fifo"), 3, 0)
				wantMtime(t, filepath.Join(root, "dev/null"), mt)
			},
		},
		{
			name:      "xattrs",
			root:      true,
			linuxOnly: true,
			ents: []ent{
				{name: "f", typ: tar.TypeReg, body: "x", mode: 0o755, uid: 1000, xattrs: map[string]string{
					"user.mime":           "text/plain",
					"trusted.md5":         "abc",
					"security.capability": "\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
					"security.selinux":    "system_u:object_r:bin_t:s0",
				}},
				{name: "d/", typ: tar.TypeDir, mode: 0o755, xattrs: map[string]string{
					"user.dir":                 "yes",
					"trusted.overlay.opaque":   "y", // forged: ignored
					"trusted.overlay.redirect": "/etc",
				}},
				{name: "l", typ: tar.TypeSymlink, link: "f", xattrs: map[string]string{"user.x": "1", "trusted.t": "2"}},
			},
			check: func(t *testing.T, root string) {
				f := filepath.Join(root, "f")
				wantXattr(t, f, "user.mime", "text/plain")
				wantXattr(t, f, "trusted.md5", "abc")
				wantXattr(t, f, "security.capability", "\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
				wantOwner(t, f, 1000, 0)
				d := filepath.Join(root, "d")
				wantXattr(t, d, "user.dir", "yes")
				wantNoXattr(t, d, "trusted.overlay.opaque")
				wantNoXattr(t, d, "trusted.overlay.redirect")
				l := filepath.Join(root, "l")
				wantXattr(t, l, "trusted.t", "2")
				wantNoXattr(t, f, "trusted.t") // not through the link
			},
		},
		{
			name:  "later entries replace earlier ones of another type",
			lower: lowerTree,
			ents: []ent{
				file("etc/conf.d", "file over a lower dir"),
				dir("var/lib/db"),
				file("var/lib/db/new", "n"),
				{name: "etc/", typ: tar.TypeDir, mode: 0o700},
				symlink("x", "etc"),
				dir("x"),
				file("x/f", "in x"),
				file("passwd-link", "file over a symlink"),
				symlink("y", "etc/passwd"),
				file("y", "file over a symlink to a file"),
				file("z", "z1"),
				file("z", "z2"),
				dir("w"),
				file("w/inner", "w"),
				symlink("w", "etc"),
			},
			check: func(t *testing.T, root string) {
				wantContent(t, filepath.Join(root, "etc/conf.d"), "file over a lower dir")
				wantMode(t, filepath.Join(root, "var/lib/db"), unix.S_IFDIR, 0o755)
				wantContent(t, filepath.Join(root, "var/lib/db/new"), "n")
				wantMode(t, filepath.Join(root, "etc"), unix.S_IFDIR, 0o700)
				wantContent(t, filepath.Join(root, "etc/passwd"), "lower passwd") // dir over dir keeps content
				wantMode(t, filepath.Join(root, "x"), unix.S_IFDIR, 0o755)
				wantContent(t, filepath.Join(root, "x/f"), "in x")
				wantGone(t, filepath.Join(root, "etc/f"))
				wantContent(t, filepath.Join(root, "passwd-link"), "file over a symlink")
				wantContent(t, filepath.Join(root, "y"), "file over a symlink to a file")
				wantContent(t, filepath.Join(root, "etc/passwd"), "lower passwd")
				wantContent(t, filepath.Join(root, "z"), "z2")
				wantMode(t, filepath.Join(root, "w"), unix.S_IFLNK, 0o777)
			},
		},
		{
			name:  "entries go through symlinks of the layer and lower layers, inside root",
			lower: lowerTree,
			ents: []ent{
				symlink("lib", "usr/lib"),
				dir("usr/"),
				dir("usr/lib/"),
				file("lib/libc.so", "libc"),
				symlink("etc2", "/etc"),
				file("etc2/new", "via an absolute link"),
				symlink("up", "../../.."),
				file("up/etc/up", "via dot-dots"),
			},
			check: func(t *testing.T, root string) {
				wantContent(t, filepath.Join(root, "usr/lib/libc.so"), "libc")
				wantContent(t, filepath.Join(root, "etc/new"), "via an absolute link")
				wantContent(t, filepath.Join(root, "etc/up"), "via dot-dots")
			},
		},
		{
			name:  "whiteouts, delete format",
			lower: lowerTree,
			ents: []ent{
				whiteout("etc/.wh.passwd"),
				whiteout("var/.wh.lib"),
				whiteout(".wh.passwd-link"),
				whiteout(".wh.nothing"),
				whiteout("missing/dir/.wh.x"),
				file("new", "n"),
				whiteout(".wh.new"),   // same layer: not hidden
				whiteout("bin/.wh.x"), // parent is a file
			},
			check: func(t *testing.T, root string) {
				wantGone(t, filepath.Join(root, "etc/passwd"))
				wantGone(t, filepath.Join(root, "var/lib"))
				wantGone(t, filepath.Join(root, "passwd-link"))
				wantGone(t, filepath.Join(root, "etc/.wh.passwd"))
				wantGone(t, filepath.Join(root, "missing"))
				wantContent(t, filepath.Join(root, "new"), "n")
				wantContent(t, filepath.Join(root, "etc/conf.d/a.conf"), "a")
			},
		},
		{
			name:  "opaque directory, delete format",
			lower: lowerTree,
			ents: []ent{
				dir("etc/"),
				file("etc/conf.d/c.conf", "c"), // before the marker
				dir("etc/conf.d/deep/"),
				whiteout("etc/conf.d/.wh..wh..opq"),
				file("etc/conf.d/d.conf", "d"), // after it
				whiteout("var/lib/.wh..wh..opq"),
			},
			check: func(t *testing.T, root string) {
				wantGone(t, filepath.Join(root, "etc/conf.d/a.conf"))
				wantGone(t, filepath.Join(root, "etc/conf.d/b.conf"))
				wantGone(t, filepath.Join(root, "etc/conf.d/deep/er"))
				wantGone(t, filepath.Join(root, "etc/conf.d/deep/y"))
				wantMode(t, filepath.Join(root, "etc/conf.d/deep"), unix.S_IFDIR, 0o755)
				wantContent(t, filepath.Join(root, "etc/conf.d/c.conf"), "c")
				wantContent(t, filepath.Join(root, "etc/conf.d/d.conf"), "d")
				wantGone(t, filepath.Join(root, "etc/conf.d/.wh..wh..opq"))
				wantContent(t, filepath.Join(root, "etc/passwd"), "lower passwd")
				wantGone(t, filepath.Join(root, "var/lib/db"))
				wantMode(t, filepath.Join(root, "var/lib"), unix.S_IFDIR, 0o755)
			},
		},
		{
			name:  "opaque directory through a symlink, delete format",
			lower: lowerTree,
			ents: []ent{
				symlink("cfg", "/etc/conf.d"),
				file("cfg/new.conf", "new"),
				whiteout("cfg/.wh..wh..opq"),
			},
			check: func(t *testing.T, root string) {
				wantGone(t, filepath.Join(root, "etc/conf.d/a.conf"))
				wantContent(t, filepath.Join(root, "etc/conf.d/new.conf"), "new")
			},
		},
		{
			name:      "whiteouts, overlay format",
			opts:      overlay,
			root:      true,
			linuxOnly: true,
			ents: []ent{
				dir("etc/"),
				whiteout("etc/.wh.passwd"),
				whiteout("var/lib/.wh.db"), // parents made as needed
				dir("opq/"),
				whiteout("opq/.wh..wh..opq"),
				file("opq/kept", "k"),
				whiteout("implicit/.wh..wh..opq"),
				file("same", "s"),
				whiteout(".wh.same"), // same layer: not hidden
				whiteout(".wh.gone"),
				file("gone", "back"), // replaces the whiteout
			},
			check: func(t *testing.T, root string) {
				wantWhiteoutDev(t, filepath.Join(root, "etc/passwd"))
				wantWhiteoutDev(t, filepath.Join(root, "var/lib/db"))
				wantXattr(t, filepath.Join(root, "opq"), "trusted.overlay.opaque", "y")
				wantContent(t, filepath.Join(root, "opq/kept"), "k")
				wantXattr(t, filepath.Join(root, "implicit"), "trusted.overlay.opaque", "y")
				wantNoXattr(t, filepath.Join(root, "etc"), "trusted.overlay.opaque")
				wantContent(t, filepath.Join(root, "same"), "s")
				wantContent(t, filepath.Join(root, "gone"), "back")
				wantGone(t, filepath.Join(root, "etc/.wh.passwd"))
			},
		},
		{
			name: "directory cache is dropped after a removal",
			ents: []ent{
				dir("a"), dir("a/b"), file("a/b/f1", "1"),
				symlink("a", "x"), // removes the directory a and what is below
				dir("x"),
				file("a/b/f2", "2"), // a/b is now x/b, made anew
				dir("p"), dir("p/q"), file("p/q/f", "f"),
				file("p", "now a file"),
				dir("p"), file("p/q/g", "g"),
			},
			check: func(t *testing.T, root string) {
				wantContent(t, filepath.Join(root, "x/b/f2"), "2")
				wantGone(t, filepath.Join(root, "x/b/f1"))
				wantMode(t, filepath.Join(root, "a"), unix.S_IFLNK, 0o777)
				wantContent(t, filepath.Join(root, "p/q/g"), "g")
				wantGone(t, filepath.Join(root, "p/q/f"))
			},
		},
		{
			name:    "hardlink whose creation removes its own target's directory",
			ents:    []ent{dir("x/y"), file("x/y/f", "f"), hardlink("x", "x/y/f")},
			wantErr: `apply "x"`,
		},
		{
			name:    "invalid whiteout",
			ents:    []ent{whiteout("a/.wh..")},
			wantErr: "invalid whiteout",
		},
		{
			name:    "unknown entry type",
			ents:    []ent{{name: "v", typ: 'V'}},
			wantErr: "unsupported entry type",
		},
		{
			name:    "size limit",
			opts:    Options{MaxFileSize: 3},
			ents:    []ent{file("big", "four")},
			wantErr: "over the limit",
		},
		{
			name: "global header and trailing data",
			data: func(t *testing.T) []byte {
				var buf bytes.Buffer
				tw := tar.NewWriter(&buf)
				must(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "hi"}}))
				must(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "f", Size: 1, Mode: 0o644}))
				tw.Write([]byte("1"))
				must(t, tw.Close())
				buf.Write(make([]byte, 10240)) // blocking padding
				return buf.Bytes()
			},
			check: func(t *testing.T, root string) { wantContent(t, filepath.Join(root, "f"), "1") },
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.root {
				testenv.RequireRoot(t, c.name)
			}
			if c.linuxOnly && runtime.GOOS != "linux" {
				t.Skip("linux only")
			}
			root := t.TempDir()
			if c.lower != nil {
				c.lower(t, root)
			}
			var data []byte
			if c.data != nil {
				data = c.data(t)
			} else {
				data = mkTar(t, c.ents...)
			}
			st, err := Apply(context.Background(), root, bytes.NewReader(data), asUser(c.opts))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("Apply: %v, want an error with %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if st.Bytes != int64(len(data)) {
				t.Errorf("Stats.Bytes %d, want %d", st.Bytes, len(data))
			}
			if c.ents != nil && st.Entries != int64(len(c.ents)) {
				t.Errorf("Stats.Entries %d, want %d", st.Entries, len(c.ents))
			}
			if c.check != nil {
				c.check(t, root)
			}
		})
	}
}

// TestApplySparse applies sparse files written by GNU tar in its PAX and
// old GNU formats, and checks that content and holes are kept.
func TestApplySparse(t *testing.T) {
	gnutar := testenv.RequireCommand(t, "tar")
	if out, _ := exec.Command(gnutar, "--version").Output(); !bytes.Contains(out, []byte("GNU tar")) {
		testenv.Unavailable(t, "%s is not GNU tar", gnutar)
	}
	src := t.TempDir()
	const size = 64 << 20
	p := filepath.Join(src, "sparse")
	f, err := os.Create(p)
	must(t, err)
	want := map[int64]string{0: "head", 5 << 20: "middle data", 40<<20 + 123: "unaligned"}
	for off, s := range want {
		_, err := f.WriteAt([]byte(s), off)
		must(t, err)
	}
	must(t, f.Truncate(size))
	must(t, f.Close())
	if st := lstat(t, p); st.Blocks*512 >= size/2 {
		t.Skip("the file system here does not keep holes")
	}
	for _, format := range []string{"pax", "gnu"} {
		t.Run(format, func(t *testing.T) {
			tarPath := filepath.Join(t.TempDir(), "s.tar")
			cmd := exec.Command(gnutar, "--sparse", "--format="+format, "-cf", tarPath, "-C", src, "sparse")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("tar: %v: %s", err, out)
			}
			r, err := os.Open(tarPath)
			must(t, err)
			defer r.Close()
			root := t.TempDir()
			if _, err := Apply(context.Background(), root, r, asUser(Options{})); err != nil {
				t.Fatal(err)
			}
			got := filepath.Join(root, "sparse")
			st := lstat(t, got)
			if st.Size != size {
				t.Fatalf("size %d, want %d", st.Size, size)
			}
			if st.Blocks*512 > 1<<20 {
				t.Errorf("st_blocks %d: %d bytes allocated for 3 small runs, holes were filled", st.Blocks, st.Blocks*512)
			}
			b, err := os.ReadFile(got)
			must(t, err)
			exp := make([]byte, size)
			for off, s := range want {
				copy(exp[off:], s)
			}
			if !bytes.Equal(b, exp) {
				t.Error("content differs")
			}
		})
	}
}

// cancelAfter calls cancel once n bytes have been read.
type cancelAfter struct {
	r      io.Reader
	n      int64
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	}
	if int64(len(p)) > c.n && c.n > 0 {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	return n, err
}

func TestApplyErrors(t *testing.T) {
	good := mkTar(t, dir("d"), file("d/f", strings.Repeat("x", 5000)), file("g", "g"))
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"truncated in data", good[:512*3+100]},
		{"truncated in header", good[:len(good)-1024-512-256]},
		{"truncated in end blocks", good[:len(good)-700]},
		{"corrupt header", func() []byte {
			b := bytes.Clone(good)
			b[512*0+148] ^= 0x55 // checksum
			return b
		}()},
		{"garbage", bytes.Repeat([]byte("not a tar "), 200)},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Apply(context.Background(), t.TempDir(), bytes.NewReader(c.data), asUser(Options{})); err == nil {
				t.Fatal("Apply succeeded")
			}
		})
	}

	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := Apply(ctx, t.TempDir(), bytes.NewReader(good), asUser(Options{}))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Apply: %v, want context.Canceled", err)
		}
	})
	t.Run("canceled mid-stream", func(t *testing.T) {
		var ents []ent
		for i := 0; i < 100; i++ {
			ents = append(ents, file(fmt.Sprintf("f%03d", i), strings.Repeat("x", 1000)))
		}
		data := mkTar(t, ents...)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		root := t.TempDir()
		r := &cancelAfter{r: bytes.NewReader(data), n: int64(len(data) / 2), cancel: cancel}
		_, err := Apply(ctx, root, r, asUser(Options{}))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Apply: %v, want context.Canceled", err)
		}
		if exists(filepath.Join(root, "f099")) {
			t.Error("Apply went on after the cancel")
		}
	})
	t.Run("too deep", func(t *testing.T) {
		name := strings.Repeat("a/", maxDepth+5) + "f"
		_, err := Apply(context.Background(), fastTempDir(t), bytes.NewReader(mkTar(t, file(name, "x"))), asUser(Options{}))
		if !errors.Is(err, errTooDeep) {
			t.Fatalf("Apply: %v, want errTooDeep", err)
		}
	})
	t.Run("root missing", func(t *testing.T) {
		if _, err := Apply(context.Background(), filepath.Join(t.TempDir(), "nope"), bytes.NewReader(good), asUser(Options{})); err == nil {
			t.Fatal("Apply succeeded")
		}
	})
	t.Run("bad whiteout format", func(t *testing.T) {
		if _, err := Apply(context.Background(), t.TempDir(), bytes.NewReader(good), asUser(Options{Whiteouts: 7})); err == nil {
			t.Fatal("Apply succeeded")
		}
	})
	t.Run("error names the entry", func(t *testing.T) {
		data := mkTar(t, file("a", "a"), file("../evil", "x"))
		_, err := Apply(context.Background(), t.TempDir(), bytes.NewReader(data), asUser(Options{}))
		if err == nil || !strings.Contains(err.Error(), `"../evil"`) || !errors.Is(err, errEscape) {
			t.Fatalf("Apply: %v", err)
		}
	})
}
