//go:build linux

package layer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/image/archive"
	"github.com/stockade/stockade/snapshot"
)

// needRoot skips a test that needs root, or fails it in CI.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test needs root, and CI is set")
		}
		t.Skip("needs root")
	}
}

var old = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func write(t testing.TB, p, body string, mode os.FileMode) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, []byte(body), mode))
	must(t, os.Chmod(p, mode))
}

// lowerTree makes the tree every case starts from, with old times.
func lowerTree(t testing.TB, r string) {
	t.Helper()
	write(t, r+"/etc/conf", "v1", 0o644)
	write(t, r+"/etc/keep", "k", 0o644)
	write(t, r+"/bin/tool", "tool", 0o755)
	write(t, r+"/var/lib/db/data", "d", 0o600)
	write(t, r+"/var/lib/x", "x", 0o644)
	write(t, r+"/opt/app/file", "f", 0o644)
	write(t, r+"/usr/x", "x", 0o644)
	write(t, r+"/usr/sub/y", "y", 0o644)
	write(t, r+"/usr/sub/z", "z", 0o644)
	write(t, r+"/data/f", "f", 0o644)
	write(t, r+"/hl/a", "same", 0o644)
	must(t, os.Link(r+"/hl/a", r+"/hl/b"))
	must(t, os.Symlink("etc/conf", r+"/link"))
	must(t, unix.Lsetxattr(r+"/data/f", "user.a", []byte("1"), 0))
	must(t, os.Chown(r+"/data/f", 1000, 1000))
	touchAll(t, r)
}

// touchAll gives every node under r (not r itself) the old time.
func touchAll(t testing.TB, r string) {
	t.Helper()
	ts := []unix.Timespec{unix.NsecToTimespec(old.UnixNano()), unix.NsecToTimespec(old.UnixNano())}
	var paths []string
	must(t, filepath.Walk(r, func(p string, _ os.FileInfo, err error) error {
		if p != r {
			paths = append(paths, p)
		}
		return err
	}))
	// Children first, so that a directory's time is set last.
	slices.Reverse(paths)
	for _, p := range paths {
		must(t, unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW))
	}
}

// node is what the round trip compares of one path.
type node struct {
	typ, perm  uint32
	uid, gid   uint32
	rdev       uint64
	content    string
	link       string
	xattrs     string
	mtime      int64  // seconds; not for directories
	linkedWith string // the first path of the same inode, for hard links
}

func snap(t testing.TB, r string) map[string]node {
	t.Helper()
	out := map[string]node{}
	inodes := map[uint64]string{}
	must(t, filepath.Walk(r, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(p, r), "/")
		if rel == "/" {
			return nil
		}
		m, err := lstat(p)
		if err != nil {
			return err
		}
		n := node{typ: m.typ(), perm: m.perm(), uid: m.uid, gid: m.gid, rdev: m.rdev}
		switch m.typ() {
		case sIFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			n.content = hex.EncodeToString(sum[:8])
			if m.nlink > 1 {
				if first, ok := inodes[m.ino]; ok {
					n.linkedWith = first
				} else {
					inodes[m.ino] = rel
				}
			}
		case sIFLNK:
			if n.link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		if m.typ() != sIFDIR {
			n.mtime = m.mtime / 1e9
		}
		if m.typ() == sIFREG || m.typ() == sIFDIR {
			x, err := readXattrs(p, -1)
			if err != nil {
				return err
			}
			var kv []string
			for k, v := range x {
				kv = append(kv, k+"="+v)
			}
			sort.Strings(kv)
			n.xattrs = strings.Join(kv, ",")
		}
		out[rel] = n
		return nil
	}))
	return out
}

func diffSnaps(want, got map[string]node) []string {
	var out []string
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			out = append(out, "missing "+p)
		case g != w:
			out = append(out, fmt.Sprintf("%s: want %+v, got %+v", p, w, g))
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			out = append(out, "extra "+p)
		}
	}
	sort.Strings(out)
	return out
}

func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	must(t, os.MkdirAll(dst, 0o755))
	if out, err := exec.Command("cp", "-a", src+"/.", dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
}

func lines(changes []Change) []string {
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = c.String()
		if c.Opaque {
			out[i] += " (opaque)"
		}
	}
	return out
}

type changeCase struct {
	name   string
	mutate func(t testing.TB, r string)
	// want is what Compare finds; overlay, when set, what
	// OverlayChanges finds (when it differs).
	want, overlay []string
}

var changeCases = []changeCase{
	{
		name: "add",
		mutate: func(t testing.TB, r string) {
			write(t, r+"/etc/new", "n", 0o640)
			write(t, r+"/newdir/sub/f", "f", 0o644)
		},
		want: []string{"C /etc", "A /etc/new", "A /newdir", "A /newdir/sub", "A /newdir/sub/f"},
	},
	{
		name:   "modify content",
		mutate: func(t testing.TB, r string) { write(t, r+"/etc/conf", "v2", 0o644) },
		want:   []string{"C /etc/conf"},
	},
	{
		name:   "modify mode only",
		mutate: func(t testing.TB, r string) { must(t, os.Chmod(r+"/bin/tool", 0o700)) },
		want:   []string{"C /bin/tool"},
	},
	{
		name:   "modify owner only",
		mutate: func(t testing.TB, r string) { must(t, os.Lchown(r+"/etc/keep", 12, 34)) },
		want:   []string{"C /etc/keep"},
	},
	{
		name:   "delete file",
		mutate: func(t testing.TB, r string) { must(t, os.Remove(r+"/etc/conf")) },
		want:   []string{"C /etc", "D /etc/conf"},
	},
	{
		name:   "delete dir",
		mutate: func(t testing.TB, r string) { must(t, os.RemoveAll(r+"/var/lib")) },
		want:   []string{"C /var", "D /var/lib"},
	},
	{
		name: "nested deletes",
		mutate: func(t testing.TB, r string) {
			must(t, os.Remove(r+"/usr/x"))
			must(t, os.Remove(r+"/usr/sub/y"))
		},
		want: []string{"C /usr", "C /usr/sub", "D /usr/sub/y", "D /usr/x"},
	},
	{
		name: "replace dir by file",
		mutate: func(t testing.TB, r string) {
			must(t, os.RemoveAll(r+"/opt/app"))
			write(t, r+"/opt/app", "now a file", 0o644)
		},
		want: []string{"C /opt/app"},
	},
	{
		name: "replace file by dir",
		mutate: func(t testing.TB, r string) {
			must(t, os.Remove(r+"/etc/conf"))
			write(t, r+"/etc/conf/inner", "i", 0o644)
		},
		want: []string{"C /etc/conf", "A /etc/conf/inner"},
	},
	{
		name: "symlinks",
		mutate: func(t testing.TB, r string) {
			must(t, os.Remove(r+"/link"))
			must(t, os.Symlink("etc/keep", r+"/link"))
			must(t, os.Symlink("/nowhere", r+"/etc/dangling"))
		},
		want: []string{"C /etc", "A /etc/dangling", "C /link"},
	},
	{
		name: "hardlinks",
		mutate: func(t testing.TB, r string) {
			write(t, r+"/links/one", "shared", 0o644)
			must(t, os.Link(r+"/links/one", r+"/links/two"))
			must(t, os.Link(r+"/links/one", r+"/etc/three"))
		},
		want: []string{"C /etc", "A /etc/three", "A /links", "A /links/one", "A /links/two"},
	},
	{
		name: "xattrs",
		mutate: func(t testing.TB, r string) {
			must(t, unix.Lsetxattr(r+"/data/f", "user.a", []byte("2"), 0))
			must(t, unix.Lsetxattr(r+"/etc/keep", "user.new", []byte("v"), 0))
			must(t, unix.Lsetxattr(r+"/etc/keep", "trusted.t", []byte("tv"), 0))
		},
		want: []string{"C /data/f", "C /etc/keep"},
	},
	{
		name: "fifo",
		mutate: func(t testing.TB, r string) {
			must(t, unix.Mkfifo(r+"/etc/fifo", 0o600))
		},
		want: []string{"C /etc", "A /etc/fifo"},
	},
	{
		name: "dir emptied and refilled",
		mutate: func(t testing.TB, r string) {
			must(t, os.RemoveAll(r+"/var/lib"))
			write(t, r+"/var/lib/fresh", "new", 0o644)
			must(t, os.Chmod(r+"/var/lib", 0o755))
		},
		want:    []string{"C /var/lib", "D /var/lib/db", "A /var/lib/fresh", "D /var/lib/x"},
		overlay: []string{"C /var/lib (opaque)", "D /var/lib/db", "A /var/lib/fresh", "D /var/lib/x"},
	},
}

// roundTrip writes changes from src as a layer, applies it to a copy of
// lower with the real applier, and checks that the result is want.
func roundTrip(t *testing.T, lower, src string, changes []Change, want map[string]node) {
	t.Helper()
	var buf bytes.Buffer
	must(t, Write(context.Background(), &buf, src, changes))
	got := t.TempDir()
	copyTree(t, lower, got)
	if _, err := archive.Apply(context.Background(), got, bytes.NewReader(buf.Bytes()), archive.Options{Whiteouts: snapshot.WhiteoutDelete}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if d := diffSnaps(want, snap(t, got)); len(d) > 0 {
		t.Errorf("applied layer differs from the upper tree:\n%s", strings.Join(d, "\n"))
	}
}

func TestCompareRoundTrip(t *testing.T) {
	needRoot(t) // owners and trusted.* xattrs
	for _, tc := range changeCases {
		t.Run(tc.name, func(t *testing.T) {
			lower, upper := t.TempDir(), t.TempDir()
			lowerTree(t, lower)
			copyTree(t, lower, upper)
			tc.mutate(t, upper)
			changes, err := Compare(context.Background(), lower, upper)
			must(t, err)
			if got := lines(changes); !slices.Equal(got, tc.want) {
				t.Errorf("changes:\n got %q\nwant %q", got, tc.want)
			}
			roundTrip(t, lower, upper, changes, snap(t, upper))
		})
	}
}

func TestOverlayRoundTrip(t *testing.T) {
	needRoot(t)
	for _, tc := range changeCases {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			lower, upper, work, merged := base+"/lower", base+"/upper", base+"/work", base+"/merged"
			for _, d := range []string{lower, upper, work, merged} {
				must(t, os.Mkdir(d, 0o755))
			}
			lowerTree(t, lower)
			must(t, unix.Mount("overlay", merged, "overlay", 0, "lowerdir="+lower+",upperdir="+upper+",workdir="+work))
			mounted := true
			defer func() {
				if mounted {
					unix.Unmount(merged, 0)
				}
			}()
			tc.mutate(t, merged)
			want := snap(t, merged)
			must(t, unix.Unmount(merged, 0))
			mounted = false
			changes, err := OverlayChanges(context.Background(), upper, []string{lower})
			must(t, err)
			exp := tc.want
			if tc.overlay != nil {
				exp = tc.overlay
			}
			if got := lines(changes); !slices.Equal(got, exp) {
				t.Errorf("changes:\n got %q\nwant %q", got, exp)
			}
			roundTrip(t, lower, upper, changes, want)
		})
	}
}

func TestCompareEmptyLower(t *testing.T) {
	upper := t.TempDir()
	write(t, upper+"/a/b", "b", 0o644)
	write(t, upper+"/c", "c", 0o644)
	changes, err := Compare(context.Background(), "", upper)
	must(t, err)
	want := []string{"A /a", "A /a/b", "A /c"}
	if got := lines(changes); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestExclude(t *testing.T) {
	lower, upper := t.TempDir(), t.TempDir()
	write(t, lower+"/etc/passwd", "root", 0o644)
	touchAll(t, lower)
	copyTree(t, lower, upper)
	write(t, upper+"/etc/hosts", "", 0o644)
	write(t, upper+"/proc/x", "", 0o644)
	write(t, upper+"/etc/real", "r", 0o644)
	changes, err := Compare(context.Background(), lower, upper, Exclude("/etc/hosts", "/proc"))
	must(t, err)
	want := []string{"C /etc", "A /etc/real"}
	if got := lines(changes); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestOverlayLowerLayers reads a stack of lower layers with whiteouts and
// an opaque directory, as the overlay snapshotter leaves them.
func TestOverlayLowerLayers(t *testing.T) {
	needRoot(t) // whiteout devices and trusted.* xattrs
	base := t.TempDir()
	l1, l2, upper := base+"/l1", base+"/l2", base+"/upper"
	// l1 (bottom): /a/x /a/y /b/z /c
	write(t, l1+"/a/x", "x", 0o644)
	write(t, l1+"/a/y", "y", 0o644)
	write(t, l1+"/b/z", "z", 0o644)
	write(t, l1+"/c", "c", 0o644)
	// l2 (top): whiteout of /a/x, /b opaque with /b/w, whiteout of /c
	must(t, os.MkdirAll(l2+"/a", 0o755))
	must(t, unix.Mknod(l2+"/a/x", unix.S_IFCHR, 0))
	write(t, l2+"/b/w", "w", 0o644)
	must(t, unix.Setxattr(l2+"/b", "trusted.overlay.opaque", []byte("y"), 0))
	must(t, unix.Mknod(l2+"/c", unix.S_IFCHR, 0))
	touchAll(t, l1)
	touchAll(t, l2)
	// upper: /a/x again (an add: hidden below), whiteout of /b/z (not
	// shown by the lowers: nothing), whiteout of /b/w (a delete), /c (add)
	write(t, upper+"/a/x", "x2", 0o644)
	must(t, os.MkdirAll(upper+"/b", 0o755))
	must(t, unix.Mknod(upper+"/b/z", unix.S_IFCHR, 0))
	must(t, unix.Mknod(upper+"/b/w", unix.S_IFCHR, 0))
	write(t, upper+"/c", "c2", 0o644)
	touchAll(t, upper)
	changes, err := OverlayChanges(context.Background(), upper, []string{l2, l1})
	must(t, err)
	want := []string{"C /a", "A /a/x", "C /b", "D /b/w", "A /c"}
	if got := lines(changes); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestKindText(t *testing.T) {
	for _, k := range []Kind{Add, Modify, Delete} {
		b, err := k.MarshalText()
		must(t, err)
		var back Kind
		must(t, back.UnmarshalText(b))
		if back != k {
			t.Errorf("%v round trips to %v", k, back)
		}
	}
	var k Kind
	if err := k.UnmarshalText([]byte("X")); err == nil {
		t.Error("UnmarshalText(X) did not fail")
	}
}

// TestOverlayRedirectRefused: an upper directory with redirect_dir or
// metacopy xattrs is refused, not misread.
func TestOverlayRedirectRefused(t *testing.T) {
	needRoot(t)
	for _, x := range []string{"trusted.overlay.redirect", "trusted.overlay.metacopy"} {
		lower, upper := t.TempDir(), t.TempDir()
		write(t, lower+"/a/f", "f", 0o644)
		write(t, upper+"/b/f", "f", 0o644)
		target := upper + "/b"
		if strings.HasSuffix(x, "metacopy") {
			target = upper + "/b/f"
		}
		must(t, unix.Lsetxattr(target, x, []byte("/a"), 0))
		_, err := OverlayChanges(context.Background(), upper, []string{lower})
		if !errors.Is(err, ErrOverlayFeature) || !strings.Contains(err.Error(), x) {
			t.Errorf("%s: %v", x, err)
		}
	}
}
