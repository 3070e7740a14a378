package build

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// writeTree makes files under dir: a name ending in / is a directory,
// "->" makes a symlink.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch c := files[n]; {
		case strings.HasSuffix(n, "/"):
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(c, "->"):
			if err := os.Symlink(strings.TrimPrefix(c, "->"), p); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// members lists a layer tar: "name type mode uid:gid [linkname|content]".
func members(t *testing.T, p *copyPlan) []string {
	t.Helper()
	var buf bytes.Buffer
	if err := p.write(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	var out []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		extra := h.Linkname
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			extra = string(b)
		}
		out = append(out, strings.TrimSpace(strings.Join([]string{h.Name, string(rune(h.Typeflag)), strconv.FormatInt(h.Mode, 8), itoa(h.Uid) + ":" + itoa(h.Gid), extra}, " ")))
	}
}

func TestCopyPlan(t *testing.T) {
	ctxDir := t.TempDir()
	writeTree(t, ctxDir, map[string]string{
		"a.txt": "a", "b.txt": "b", "dir/x": "x", "dir/sub/y": "y", "dir/skip.log": "no",
		"link": "->a.txt", "dir/rel": "->../a.txt", "out": "->../../etc/passwd", "abs": "->/etc/passwd",
		".dockerignore": "*.log\n**/*.log\nsecret\n", "secret": "s",
	})
	root := t.TempDir()
	writeTree(t, root, map[string]string{"etc/passwd": "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n", "etc/group": "root:x:0:\nstaff:x:50:\n", "tmp/": "", "opt/": ""})
	os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	c, err := OpenContext(ctxDir)
	if err != nil {
		t.Fatal(err)
	}
	view := rootView{dir: root}
	mtime := time.Unix(1, 0)
	for _, tc := range []struct {
		name    string
		spec    copySpec
		want    []string
		wantErr string
	}{
		{name: "file to new path", spec: copySpec{sources: []string{"a.txt"}, dest: "/new/dir/a"},
			want: []string{"new/ 5 755 0:0", "new/dir/ 5 755 0:0", "new/dir/a 0 644 0:0 a"}},
		{name: "file into existing dir", spec: copySpec{sources: []string{"a.txt"}, dest: "/tmp"},
			want: []string{"tmp/a.txt 0 644 0:0 a"}},
		{name: "relative to workdir", spec: copySpec{sources: []string{"b.txt"}, dest: "x/", workdir: "/opt"},
			want: []string{"opt/x/ 5 755 0:0", "opt/x/b.txt 0 644 0:0 b"}},
		{name: "glob, chown by name, chmod", spec: copySpec{sources: []string{"*.txt"}, dest: "/opt/", chown: "app:staff", chmod: "0600"},
			want: []string{"opt/a.txt 0 600 1000:50 a", "opt/b.txt 0 600 1000:50 b"}},
		{name: "chown user only takes the primary group", spec: copySpec{sources: []string{"a.txt"}, dest: "/opt/", chown: "app"},
			want: []string{"opt/a.txt 0 644 1000:1001 a"}},
		{name: "directory contents, ignored files left out", spec: copySpec{sources: []string{"dir"}, dest: "/d"},
			want: []string{"d/ 5 755 0:0", "d/rel 2 777 0:0 ../a.txt", "d/sub/ 5 755 0:0", "d/sub/y 0 644 0:0 y", "d/x 0 644 0:0 x"}},
		{name: "symlink source inside is followed", spec: copySpec{sources: []string{"link"}, dest: "/l"},
			want: []string{"l 0 644 0:0 a"}},
		{name: "several sources need a directory", spec: copySpec{sources: []string{"a.txt", "b.txt"}, dest: "/file"},
			wantErr: "must be a directory"},
		{name: "dotdot", spec: copySpec{sources: []string{"../etc/passwd"}, dest: "/x"}, wantErr: `source "../etc/passwd": outside the build context`},
		{name: "symlink out", spec: copySpec{sources: []string{"out"}, dest: "/x"}, wantErr: "outside the build context"},
		{name: "absolute symlink", spec: copySpec{sources: []string{"abs"}, dest: "/x"}, wantErr: "outside the build context"},
		{name: "ignored", spec: copySpec{sources: []string{"secret"}, dest: "/x"}, wantErr: `source "secret": no such file or directory`},
		{name: "missing", spec: copySpec{sources: []string{"nope*"}, dest: "/x"}, wantErr: "no such file"},
		{name: "url", spec: copySpec{sources: []string{"https://example.com/x"}, dest: "/x", add: true}, wantErr: "ADD of a URL is not supported"},
		{name: "unknown user", spec: copySpec{sources: []string{"a.txt"}, dest: "/x", chown: "nobody"}, wantErr: "--chown=nobody"},
		{name: "bad chmod", spec: copySpec{sources: []string{"a.txt"}, dest: "/x", chmod: "rwx"}, wantErr: "--chmod=rwx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.from = c.tree()
			p, err := tc.spec.plan(view, mtime)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := members(t, p)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("members:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestCopyDigest(t *testing.T) {
	ctxDir := t.TempDir()
	writeTree(t, ctxDir, map[string]string{"a": "1", "b": "2"})
	c, _ := OpenContext(ctxDir)
	digestOf := func() string {
		p, err := copySpec{sources: []string{"."}, dest: "/app/", from: c.tree()}.plan(rootView{}, time.Unix(1, 0))
		if err != nil {
			t.Fatal(err)
		}
		return p.digest
	}
	d1 := digestOf()
	os.Chtimes(filepath.Join(ctxDir, "a"), time.Now(), time.Now().Add(time.Hour))
	if d := digestOf(); d != d1 {
		t.Error("a new mtime alone changed the digest")
	}
	os.WriteFile(filepath.Join(ctxDir, "a"), []byte("3"), 0o644)
	d2 := digestOf()
	if d2 == d1 {
		t.Error("new content kept the digest")
	}
	os.Chmod(filepath.Join(ctxDir, "b"), 0o600)
	if d := digestOf(); d == d2 {
		t.Error("a new mode kept the digest")
	}
}

func TestAddExtracts(t *testing.T) {
	ctxDir := t.TempDir()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "top/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 7, Gid: 8})
	tw.WriteHeader(&tar.Header{Name: "top/f", Typeflag: tar.TypeReg, Mode: 0o640, Size: 2, Uid: 7, Gid: 8})
	tw.Write([]byte("hi"))
	tw.WriteHeader(&tar.Header{Name: "../../escape", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
	tw.Write([]byte("e"))
	tw.WriteHeader(&tar.Header{Name: "top/hl", Typeflag: tar.TypeLink, Linkname: "top/f"})
	tw.Close()
	zw.Close()
	os.WriteFile(filepath.Join(ctxDir, "a.tar.gz"), buf.Bytes(), 0o644)
	os.WriteFile(filepath.Join(ctxDir, "plain.txt"), []byte("not a tar"), 0o644)
	c, _ := OpenContext(ctxDir)
	p, err := copySpec{sources: []string{"a.tar.gz", "plain.txt"}, dest: "/x/", add: true, from: c.tree()}.plan(rootView{}, time.Unix(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(members(t, p), "\n")
	want := strings.Join([]string{"x/ 5 755 0:0", "x/plain.txt 0 644 0:0 not a tar", "x/top/ 5 750 7:8", "x/top/f 0 640 7:8 hi", "x/escape 0 644 0:0 e", "x/top/hl 1 0 0:0 x/top/f"}, "\n")
	if got != want {
		t.Fatalf("members:\n%s\nwant:\n%s", got, want)
	}
}

func itoa(n int) string { return strconvFormat(int64(n), 10) }

func strconvFormat(n int64, base int) string { return strconv.FormatInt(n, base) }

func TestTreeDigest(t *testing.T) {
	ctxDir := t.TempDir()
	writeTree(t, ctxDir, map[string]string{"d/a": "1", "d/b.log": "x", "f": "2", ".dockerignore": "*.log\n**/*.log\n"})
	c, _ := OpenContext(ctxDir)
	digest := func(src ...string) string {
		d, err := c.tree().digest(src)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d1 := digest("d", "f")
	os.WriteFile(filepath.Join(ctxDir, "d/b.log"), []byte("changed"), 0o644)
	if digest("d", "f") != d1 {
		t.Error("an ignored file changed the digest")
	}
	os.WriteFile(filepath.Join(ctxDir, "d/a"), []byte("changed"), 0o644)
	if digest("d", "f") == d1 {
		t.Error("a changed file kept the digest")
	}
	if _, err := c.tree().digest([]string{"../x"}); err == nil || !strings.Contains(err.Error(), "outside the build context") {
		t.Errorf("digest of ../x: %v", err)
	}
}
