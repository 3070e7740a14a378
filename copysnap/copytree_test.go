//go:build linux || freebsd

package copysnap

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// node is one entry of a test tree.
type node struct {
	path   string
	kind   string // file, dir, symlink, fifo, chardev, sock, link (hard link to target)
	data   string
	target string
	mode   uint32
	uid    int
	gid    int
	xattrs map[string]string
	rdev   uint64
	// sparse, when >0, makes a file of that size with data only at its middle.
	sparse int64
	root   bool // needs root
}

var (
	tAtime = time.Date(2001, 2, 3, 4, 5, 6, 123456789, time.UTC)
	tMtime = time.Date(2002, 3, 4, 5, 6, 7, 987654321, time.UTC)
)

func userXattr(v string) map[string]string { return map[string]string{"user.stockade.test": v} }

func testTree() []node {
	return []node{
		{path: "etc", kind: "dir", mode: 0o755},
		{path: "etc/passwd", kind: "file", data: "root:x:0:0\n", mode: 0o644},
		{path: "etc/shadow", kind: "file", data: "secret", mode: 0o600, uid: 0, gid: 42},
		{path: "bin", kind: "dir", mode: 0o755},
		{path: "bin/su", kind: "file", data: "elf", mode: 0o4755, root: true},
		{path: "bin/wall", kind: "file", data: "elf", mode: 0o2755, uid: 0, gid: 5, root: true},
		{path: "bin/sh", kind: "file", data: strings.Repeat("sh", 40000), mode: 0o755, xattrs: userXattr("cap")},
		{path: "bin/bash", kind: "link", target: "bin/sh"},
		{path: "usr/bin/sh", kind: "link", target: "bin/sh"},
		{path: "usr", kind: "dir", mode: 0o755},
		{path: "usr/bin", kind: "dir", mode: 0o755},
		{path: "tmp", kind: "dir", mode: 0o1777},
		{path: "home/user", kind: "dir", mode: 0o700, uid: 1000, gid: 1000, root: true},
		{path: "home", kind: "dir", mode: 0o755},
		{path: "home/user/.profile", kind: "file", data: "PS1=$", mode: 0o640, uid: 1000, gid: 1000, root: true, xattrs: userXattr("profile")},
		{path: "lib", kind: "symlink", target: "usr/lib"},
		{path: "abs", kind: "symlink", target: "/etc/passwd"},
		{path: "dangling", kind: "symlink", target: "nowhere/at/all"},
		{path: "run/fifo", kind: "fifo", mode: 0o620},
		{path: "run", kind: "dir", mode: 0o755},
		{path: "run/sock", kind: "sock", mode: 0o755, root: true},
		{path: "dev", kind: "dir", mode: 0o755},
		{path: "dev/null", kind: "chardev", mode: 0o666, rdev: unix.Mkdev(1, 3), root: true},
		{path: "var/sparse", kind: "file", sparse: 1 << 30, mode: 0o644},
		{path: "var", kind: "dir", mode: 0o755},
		{path: "var/empty", kind: "file", mode: 0o644},
		{path: "ro", kind: "dir", mode: 0o500},
		{path: "ro/f", kind: "file", data: "in a read-only dir", mode: 0o444},
	}
}

// build makes the tree under root and returns the nodes it made.
func build(t *testing.T, root string, nodes []node) []node {
	t.Helper()
	isRoot := os.Geteuid() == 0
	var made []node
	// Make children before setting a directory's mode, and leave times to
	// the end, deepest first.
	sorted := slices.Clone(nodes)
	slices.SortStableFunc(sorted, func(a, b node) int {
		if (a.kind == "link") != (b.kind == "link") {
			if a.kind == "link" {
				return 1
			}
			return -1
		}
		return strings.Compare(a.path, b.path)
	})
	for _, n := range sorted {
		if n.root && !isRoot {
			continue
		}
		p := filepath.Join(root, n.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch n.kind {
		case "dir":
			err = os.MkdirAll(p, 0o755)
		case "file":
			err = os.WriteFile(p, []byte(n.data), 0o600)
			if err == nil && n.sparse > 0 {
				var f *os.File
				if f, err = os.OpenFile(p, os.O_WRONLY, 0); err == nil {
					if err = f.Truncate(n.sparse); err == nil {
						_, err = f.WriteAt([]byte("middle"), n.sparse/2)
					}
					f.Close()
				}
			}
		case "link":
			err = os.Link(filepath.Join(root, n.target), p)
		case "symlink":
			err = os.Symlink(n.target, p)
		case "fifo":
			err = unix.Mkfifo(p, 0o600)
		case "chardev":
			err = mknod(p, unix.S_IFCHR|0o600, n.rdev)
		case "sock":
			err = mknod(p, unix.S_IFSOCK|0o600, 0)
		}
		if err != nil {
			t.Fatalf("make %s: %v", n.path, err)
		}
		for k, v := range n.xattrs {
			if err := unix.Lsetxattr(p, k, []byte(v), 0); err != nil {
				t.Fatalf("setxattr %s: %v", n.path, err)
			}
		}
		made = append(made, n)
	}
	for i := len(made) - 1; i >= 0; i-- {
		n := made[i]
		p := filepath.Join(root, n.path)
		if n.kind == "link" {
			continue
		}
		if isRoot && n.kind != "symlink" {
			if err := os.Lchown(p, n.uid, n.gid); err != nil {
				t.Fatal(err)
			}
		}
		if n.kind != "symlink" {
			if err := unix.Chmod(p, n.mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := len(made) - 1; i >= 0; i-- {
		if made[i].kind == "link" {
			continue
		}
		ts := []unix.Timespec{unix.NsecToTimespec(tAtime.UnixNano()), unix.NsecToTimespec(tMtime.UnixNano())}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(root, made[i].path), ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Fatal(err)
		}
	}
	return made
}

func lstat(t *testing.T, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestCopyTree(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	// Without root, the read-only directory of the tree keeps t.TempDir
	// from removing what is in it: make it writable again first.
	t.Cleanup(func() { os.Chmod(filepath.Join(src, "ro"), 0o700); os.Chmod(filepath.Join(dst, "ro"), 0o700) })
	nodes := build(t, src, testTree())
	// The tree's root has attributes of its own.
	if err := os.Chmod(src, 0o751); err != nil {
		t.Fatal(err)
	}
	if err := CopyTree(t.Context(), src, dst); err != nil {
		t.Fatal(err)
	}
	if st := lstat(t, dst); st.Mode&0o7777 != 0o751 {
		t.Errorf("root mode %o, want 751", st.Mode&0o7777)
	}
	inodes := map[string]uint64{}
	for _, n := range nodes {
		t.Run(strings.ReplaceAll(n.path, "/", "_"), func(t *testing.T) {
			s, d := filepath.Join(src, n.path), filepath.Join(dst, n.path)
			ss, ds := lstat(t, s), lstat(t, d)
			inodes[n.path] = uint64(ds.Ino)
			if ss.Mode != ds.Mode {
				t.Errorf("mode %o, want %o", ds.Mode, ss.Mode)
			}
			if ss.Uid != ds.Uid || ss.Gid != ds.Gid {
				t.Errorf("owner %d:%d, want %d:%d", ds.Uid, ds.Gid, ss.Uid, ss.Gid)
			}
			if ss.Size != ds.Size {
				t.Errorf("size %d, want %d", ds.Size, ss.Size)
			}
			if ss.Nlink != ds.Nlink {
				t.Errorf("nlink %d, want %d", ds.Nlink, ss.Nlink)
			}
			if ss.Rdev != ds.Rdev {
				t.Errorf("rdev %#x, want %#x", ds.Rdev, ss.Rdev)
			}
			if n.kind != "link" {
				if got := time.Unix(ds.Mtim.Unix()).UTC(); !got.Equal(tMtime) {
					t.Errorf("mtime %v, want %v", got, tMtime)
				}
				if got := time.Unix(ds.Atim.Unix()).UTC(); !got.Equal(tAtime) {
					t.Errorf("atime %v, want %v", got, tAtime)
				}
			}
			switch {
			case n.sparse > 0:
				f, err := os.Open(d)
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 6)
				if _, err := f.ReadAt(buf, n.sparse/2); err != nil || string(buf) != "middle" {
					t.Errorf("sparse file's data: %q, %v", buf, err)
				}
				f.Close()
			case n.kind == "file", n.kind == "link":
				a, _ := os.ReadFile(s)
				b, err := os.ReadFile(d)
				if err != nil || !bytes.Equal(a, b) {
					t.Errorf("content differs (%v)", err)
				}
			case n.kind == "symlink":
				if got, err := os.Readlink(d); err != nil || got != n.target {
					t.Errorf("link to %q, %v; want %q", got, err, n.target)
				}
			}
			if n.sparse > 0 && ds.Blocks*512 > 1<<20 {
				t.Errorf("sparse file of %d bytes takes %d bytes", n.sparse, ds.Blocks*512)
			}
			for k, v := range n.xattrs {
				buf := make([]byte, 256)
				sz, err := unix.Lgetxattr(d, k, buf)
				if err != nil || string(buf[:sz]) != v {
					t.Errorf("xattr %s = %q, %v; want %q", k, buf[:max(sz, 0)], err, v)
				}
			}
		})
	}
	// Hard links stay hard links, across directories.
	for _, n := range nodes {
		if n.kind == "link" && inodes[n.path] != inodes[n.target] {
			t.Errorf("%s is not a hard link of %s in the copy", n.path, n.target)
		}
	}
	if inodes["bin/sh"] == uint64(lstat(t, filepath.Join(src, "bin/sh")).Ino) {
		t.Error("the copy shares an inode with the source")
	}
}

func TestCopyTreeErrors(t *testing.T) {
	src := t.TempDir()
	f := filepath.Join(src, "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CopyTree(t.Context(), f, t.TempDir()); err == nil {
		t.Error("copy of a file as a tree succeeded")
	}
	if err := CopyTree(t.Context(), filepath.Join(src, "missing"), t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("copy of a missing tree: %v", err)
	}
	// A symbolic link to a directory is not followed.
	if err := os.Symlink("/etc", filepath.Join(src, "etc")); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := CopyTree(t.Context(), src, dst); err != nil {
		t.Fatal(err)
	}
	if st := lstat(t, filepath.Join(dst, "etc")); st.Mode&unix.S_IFMT != unix.S_IFLNK {
		t.Errorf("symlink copied as %o", st.Mode)
	}
	// A name taken in dst fails the copy.
	if err := CopyTree(t.Context(), src, dst); err == nil {
		t.Error("copy onto existing entries succeeded")
	}
	for i := 0; i < 600; i++ {
		os.WriteFile(filepath.Join(src, "f"+string(rune('a'+i%26))+strings.Repeat("x", i/26)), nil, 0o644)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := CopyTree(ctx, src, t.TempDir()); !errors.Is(err, context.Canceled) {
		t.Errorf("copy with a canceled context: %v", err)
	}
}

func TestSplitNul(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a\x00", []string{"a"}},
		{"user.a\x00trusted.b\x00", []string{"user.a", "trusted.b"}},
		{"a\x00\x00b", []string{"a", "b"}},
	} {
		var got []string
		for _, b := range splitNul([]byte(tc.in)) {
			got = append(got, string(b))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("splitNul(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
