//go:build linux || freebsd

package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stockade/stockade/snapshot"
)

// hostileCase is a layer that tries to reach out of root. rel is the
// sentinel directory relative to root ("../../sentinel"), abs its absolute
// path on the host.
type hostileCase struct {
	name string
	// lower prepares root like a parent layer would have.
	lower func(t testing.TB, j jail)
	ents  func(abs, rel string) []ent
	// raw, when set, is the stream itself (corrupt or truncated tars).
	raw func(t testing.TB, abs, rel string) []byte
	// nlinkMayDrop: the case removes, inside root, a hard link to a
	// sentinel file; its link count dropping is then expected.
	nlinkMayDrop bool
}

func hostileCases() []hostileCase {
	const relS = "../../sentinel"
	return []hostileCase{
		{name: "dotdot-overwrite", ents: func(abs, rel string) []ent {
			return []ent{file(rel+"/file", "pwned"), file("ok", "ok")}
		}},
		{name: "dotdot-new", ents: func(abs, rel string) []ent {
			return []ent{file("../pwned", "x"), file("../../pwned", "x"), dir("../../pwned-dir"), symlink("../evil", "/")}
		}},
		{name: "dotdot-middle", ents: func(abs, rel string) []ent {
			return []ent{file("a/../../../sentinel/file", "pwned"), file("a/b/../../../x", "x")}
		}},
		{name: "dotdot-each-type", ents: func(abs, rel string) []ent {
			return []ent{
				dir(rel + "/newdir"), symlink(rel+"/newlink", "/"), hardlink(rel+"/newhard", "ok"),
				{name: rel + "/fifo", typ: tar.TypeFifo, mode: 0o644},
				{name: rel + "/file", typ: tar.TypeDir, mode: 0o777},
			}
		}},
		{name: "absolute-name", ents: func(abs, rel string) []ent {
			return []ent{file(abs+"/file", "pwned"), dir(abs + "/sub"), file(abs+"/sub/file2", "pwned")}
		}},
		{name: "symlink-absolute-out-then-write", ents: func(abs, rel string) []ent {
			return []ent{symlink("evil", abs), file("evil/file", "pwned"), file("evil/new", "x"), dir("evil/sub"), file("evil/sub/file2", "pwned")}
		}},
		{name: "symlink-relative-out-then-write", ents: func(abs, rel string) []ent {
			return []ent{symlink("evil", rel), file("evil/passwd", "pwned"), {name: "evil/sub", typ: tar.TypeDir, mode: 0o777, uid: 1234}}
		}},
		// The classic "etc -> /etc" escape, aimed at the sentinel instead of
		// the host's /etc: a broken applier must damage only test files.
		{name: "symlink-etc-passwd", ents: func(abs, rel string) []ent {
			return []ent{symlink("etc", abs), file("etc/passwd", "pwned"), symlink("evil", abs), file("evil/passwd", "root::0:0::/:/bin/sh\n")}
		}},
		{name: "symlink-to-slash", ents: func(abs, rel string) []ent {
			return []ent{symlink("evil", "/"), file("evil"+abs+"/file", "pwned"), symlink("dots", "../../../../../../../.."), file("dots"+abs+"/passwd", "pwned")}
		}},
		{name: "symlink-chain", ents: func(abs, rel string) []ent {
			return []ent{
				symlink("a", "b"), symlink("b", "../../.."),
				file("a"+abs+"/file", "pwned"), file("a/sentinel/file", "pwned"), file("a/jail/sentinel2/x", "pwned"),
				symlink("c", "d/e"), dir("d"), symlink("d/e", "../"+rel), file("c/passwd", "pwned"),
			}
		}},
		{name: "symlink-up-from-subdir", ents: func(abs, rel string) []ent {
			return []ent{dir("d"), symlink("d/up", "../../.."), file("d/up/sentinel/passwd", "pwned"), file("d/up/jail/sentinel2/x", "pwned")}
		}},
		{name: "symlink-long-dotdot", ents: func(abs, rel string) []ent {
			return []ent{symlink("evil", strings.Repeat("../", 64)+strings.TrimPrefix(abs, "/")), file("evil/file", "pwned")}
		}},
		{name: "symlink-to-file-out-then-replace", ents: func(abs, rel string) []ent {
			return []ent{
				symlink("evil", abs+"/file"), file("evil", "pwned"),
				symlink("evil2", rel+"/passwd"), {name: "evil2", typ: tar.TypeDir, mode: 0o777, uid: 99},
				symlink("evil3", rel+"/file"), {name: "evil3", typ: tar.TypeFifo, mode: 0o777},
				symlink("evil4", abs+"/file"), symlink("evil4", "x"),
			}
		}},
		{name: "symlink-loops", ents: func(abs, rel string) []ent {
			return []ent{symlink("loop", "loop/x"), file("loop/f", "x"), symlink("l1", "l2"), symlink("l2", "l1"), file("l1/f", "x")}
		}},
		{name: "hardlink-dotdot", ents: func(abs, rel string) []ent {
			return []ent{hardlink("h", rel+"/file"), file("h", "pwned")}
		}},
		{name: "hardlink-absolute", ents: func(abs, rel string) []ent {
			return []ent{hardlink("h", abs+"/file"), file("h", "pwned")}
		}},
		{name: "hardlink-through-symlink", ents: func(abs, rel string) []ent {
			return []ent{
				symlink("evil", abs), hardlink("h", "evil/file"), file("h", "pwned"),
				symlink("evil2", rel), hardlink("h2", "evil2/passwd"),
				symlink("evil3", "/"), hardlink("h3", "evil3"+abs+"/file"),
				hardlink("h4", "evil"), // the link itself, not its target
			}
		}},
		{name: "whiteout-dotdot", ents: func(abs, rel string) []ent {
			return []ent{whiteout("../.wh.sentinel"), whiteout(rel + "/.wh.file"), whiteout("../../.wh.sentinel"), whiteout(rel + "/.wh..wh..opq")}
		}},
		{name: "whiteout-through-symlink", ents: func(abs, rel string) []ent {
			return []ent{
				symlink("evil", abs), whiteout("evil/.wh.file"), whiteout("evil/.wh.sub"),
				symlink("rel", rel), whiteout("rel/.wh.passwd"),
				symlink("slash", "/"), whiteout("slash" + abs + "/.wh.file"),
			}
		}},
		{name: "opaque-through-symlink", ents: func(abs, rel string) []ent {
			return []ent{
				symlink("evil", abs), whiteout("evil/.wh..wh..opq"),
				symlink("rel", rel), whiteout("rel/.wh..wh..opq"),
				symlink("up", "../.."), whiteout("up/.wh..wh..opq"),
			}
		}},
		{name: "lower-symlinks-out", lower: func(t testing.TB, j jail) {
			must(t, os.Symlink(j.sentinel, filepath.Join(j.root, "lowerabs")))
			must(t, os.Symlink(relS, filepath.Join(j.root, "lowerrel")))
			must(t, os.Symlink(j.sentinel+"/file", filepath.Join(j.root, "lowerfile")))
		}, ents: func(abs, rel string) []ent {
			return []ent{
				whiteout("lowerrel/.wh.file"), whiteout("lowerabs/.wh..wh..opq"),
				file("lowerabs/file", "pwned"), file("lowerfile", "pwned"),
				hardlink("h", "lowerrel/file"),
				whiteout(".wh.lowerabs"), whiteout(".wh..wh..opq"),
			}
		}},
		{name: "lower-hardlink-to-outside-inode", nlinkMayDrop: true, lower: func(t testing.TB, j jail) {
			// A file of a lower layer that shares its inode with a file
			// outside root: it must be replaced, never written or chmoded.
			must(t, os.Link(filepath.Join(j.sentinel, "file"), filepath.Join(j.root, "shared")))
			must(t, os.Link(filepath.Join(j.sentinel, "passwd"), filepath.Join(j.root, "shared2")))
			must(t, os.MkdirAll(filepath.Join(j.root, "d"), 0o755))
			must(t, os.Link(filepath.Join(j.sentinel, "sub", "file2"), filepath.Join(j.root, "d", "shared3")))
		}, ents: func(abs, rel string) []ent {
			return []ent{
				{name: "shared", typ: tar.TypeReg, body: "pwned", mode: 0o4777, uid: 1},
				hardlink("h", "shared2"), {name: "h", typ: tar.TypeReg, body: "pwned", mode: 0o777},
				{name: "shared2", typ: tar.TypeSymlink, link: abs},
				whiteout("d/.wh..wh..opq"),
			}
		}},
		{name: "dir-replaced-by-symlink-mid-stream", ents: func(abs, rel string) []ent {
			return []ent{
				dir("d"), file("d/x", "x"), dir("d/sub"),
				symlink("d", abs), file("d/file", "pwned"), {name: "d/sub", typ: tar.TypeDir, mode: 0o777},
				{name: "d/", typ: tar.TypeDir, mode: 0o777}, file("d/file", "inside"),
				symlink("d", rel), whiteout("d/.wh.passwd"), whiteout("d/.wh..wh..opq"),
				dir("e/f/g"), symlink("e/f", rel), file("e/f/g/h", "pwned"), hardlink("e/f/file2", "e/f/sub/file2"),
			}
		}},
		{name: "times-after-replace", ents: func(abs, rel string) []ent {
			// Directory times are set at the end: by then d is a link out.
			return []ent{dir("d"), dir("d/sub"), symlink("d", abs), dir("x"), symlink("x", rel+"/sub")}
		}},
		{name: "devices-through-symlink", ents: func(abs, rel string) []ent {
			return []ent{
				symlink("evil", abs),
				{name: "evil/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3},
				{name: "evil/fifo", typ: tar.TypeFifo, mode: 0o666},
				{name: "evil/file", typ: tar.TypeBlock, mode: 0o666, major: 7},
			}
		}},
		{name: "xattrs-through-symlink", ents: func(abs, rel string) []ent {
			x := map[string]string{"user.pwned": "1", "trusted.pwned": "1"}
			return []ent{
				{name: "evil", typ: tar.TypeSymlink, link: abs + "/file", xattrs: x},
				{name: "evil2", typ: tar.TypeSymlink, link: rel, xattrs: x},
				symlink("evil3", abs), {name: "evil3", typ: tar.TypeDir, mode: 0o700, xattrs: x},
			}
		}},
		{name: "corrupt", raw: func(t testing.TB, abs, rel string) []byte {
			b := mkTar(t, symlink("evil", abs), file("evil/file", "pwned"), file("x", strings.Repeat("y", 300)))
			b[len(b)-1024-512-512+100] ^= 0xff // the header of "x"
			return b
		}},
		{name: "truncated", raw: func(t testing.TB, abs, rel string) []byte {
			b := mkTar(t, symlink("evil", rel), file("evil/file", strings.Repeat("pwned", 200)))
			return b[:len(b)-1024-512]
		}},
		{name: "garbage", raw: func(t testing.TB, abs, rel string) []byte {
			return bytes.Repeat([]byte("../../sentinel/file\x00"), 30)
		}},
	}
}

func (c hostileCase) data(t testing.TB, abs, rel string) []byte {
	if c.raw != nil {
		return c.raw(t, abs, rel)
	}
	return mkTar(t, c.ents(abs, rel)...)
}

// checkOutside compares the jail outside root with before; nlinkMayDrop
// tolerates a lower link count.
func checkOutside(t testing.TB, j jail, before map[string]node, nlinkMayDrop bool) {
	t.Helper()
	after := j.outside(t)
	if nlinkMayDrop {
		for k, a := range after {
			if b, ok := before[k]; ok && a.nlink < b.nlink {
				a.nlink = b.nlink
				after[k] = a
			}
		}
	}
	if d := diffTrees(before, after); len(d) > 0 {
		t.Errorf("outside of root changed:\n%s", strings.Join(d, "\n"))
	}
}

func TestApplyHostile(t *testing.T) {
	formats := map[string]Options{"delete": {Whiteouts: snapshot.WhiteoutDelete}}
	if runtime.GOOS == "linux" && isRoot() {
		formats["overlay"] = Options{Whiteouts: snapshot.WhiteoutOverlay}
	}
	for _, c := range hostileCases() {
		for fname, opts := range formats {
			t.Run(c.name+"/"+fname, func(t *testing.T) {
				j := newJail(t)
				if c.lower != nil {
					c.lower(t, j)
				}
				before := j.outside(t)
				data := c.data(t, j.sentinel, "../../sentinel")
				_, err := Apply(context.Background(), j.root, bytes.NewReader(data), asUser(opts))
				t.Logf("Apply: %v", err)
				checkOutside(t, j, before, c.nlinkMayDrop)
				if (c.name == "corrupt" || c.name == "truncated" || c.name == "garbage") && err == nil {
					t.Error("Apply of a broken tar succeeded")
				}
			})
		}
	}
}

// TestApplyHostileLandsInside checks where some of the writes through
// escaping links went: into root, as if root were "/".
func TestApplyHostileLandsInside(t *testing.T) {
	j := newJail(t)
	data := mkTar(t,
		symlink("evil", j.sentinel), file("evil/file", "abs"),
		symlink("rel", "../../sentinel"), file("rel/passwd", "rel"),
		symlink("a", "b"), symlink("b", "../../.."), file("a/chain", "chain"),
	)
	if _, err := Apply(context.Background(), j.root, bytes.NewReader(data), asUser(Options{})); err != nil {
		t.Fatal(err)
	}
	wantContent(t, filepath.Join(j.root, j.sentinel, "file"), "abs")
	wantContent(t, filepath.Join(j.root, "sentinel", "passwd"), "rel")
	wantContent(t, filepath.Join(j.root, "chain"), "chain")
}
