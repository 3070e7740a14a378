package e2e

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hostFile is a host file's bytes and modification time.
type hostFile struct {
	data  []byte
	mtime time.Time
}

func snapshotHost(t *testing.T, path string) hostFile {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return hostFile{b, fi.ModTime()}
}

func (h hostFile) unchanged(t *testing.T, path string) {
	t.Helper()
	now := snapshotHost(t, path)
	if !bytes.Equal(now.data, h.data) || !now.mtime.Equal(h.mtime) {
		t.Errorf("HOST FILE %s CHANGED by cp (mtime %v -> %v)", path, h.mtime, now.mtime)
	}
}

func TestCp(t *testing.T) {
	reg := startRegistry(t)
	ref := busyboxImage(t, reg)
	e := newEnv(t)
	e.must("pull", "-q", ref)
	e.must("run", "-d", "--name", "box", "--network", "none", ref, "sleep", "300")
	// In the container: /evil is a link to /etc, /d a directory with a
	// file and a link to /etc/passwd.
	e.must("exec", "box", "sh", "-c", "ln -s /etc /evil && mkdir /d && echo hi > /d/f && ln -s /etc/passwd /d/link")
	hostPasswd, hostGroup := snapshotHost(t, "/etc/passwd"), snapshotHost(t, "/etc/group")
	defer hostPasswd.unchanged(t, "/etc/passwd")
	defer hostGroup.unchanged(t, "/etc/group")
	out := t.TempDir()

	// Out of the container, through the link: the container's /etc/group.
	e.must("cp", "box:/evil/group", filepath.Join(out, "group"))
	if got := readFile(t, filepath.Join(out, "group")); got != "root:x:0:\n" {
		t.Errorf("cp box:/evil/group read %q, want the container's file", got)
	}
	// A directory, its link kept as a link.
	e.must("cp", "box:/d", filepath.Join(out, "d2"))
	if got := readFile(t, filepath.Join(out, "d2/f")); got != "hi\n" {
		t.Errorf("d2/f = %q", got)
	}
	if l, err := os.Readlink(filepath.Join(out, "d2/link")); err != nil || l != "/etc/passwd" {
		t.Errorf("d2/link -> %q, %v", l, err)
	}
	// -L follows the link, inside the container.
	e.must("cp", "-L", "box:/d/link", filepath.Join(out, "passwd"))
	if got := readFile(t, filepath.Join(out, "passwd")); got != "root:x:0:0:root:/:/bin/sh\n" {
		t.Errorf("cp -L box:/d/link read %q, want the container's /etc/passwd", got)
	}

	// Into the container, through the link: lands in the container's /etc.
	src := filepath.Join(out, "src")
	os.WriteFile(src, []byte("written by cp\n"), 0o600)
	os.Chown(src, 1234, 2345)
	e.must("cp", src, "box:/evil/passwd")
	if r := e.must("exec", "box", "cat", "/etc/passwd"); r.stdout != "written by cp\n" {
		t.Errorf("the container's /etc/passwd after cp: %q", r.stdout)
	}
	if r := e.must("exec", "box", "/bin/busybox", "stat", "-c", "%u:%g %a", "/etc/passwd"); r.stdout != "0:0 600\n" {
		t.Errorf("owner and mode without -a: %q, want the container's root and the source's mode", r.stdout)
	}
	e.must("cp", "-a", src, "box:/d/")
	if r := e.must("exec", "box", "/bin/busybox", "stat", "-c", "%u:%g %a", "/d/src"); r.stdout != "1234:2345 600\n" {
		t.Errorf("owner and mode with -a: %q", r.stdout)
	}
	// A directory's contents into an existing directory.
	os.MkdirAll(filepath.Join(out, "tree/sub"), 0o755)
	os.WriteFile(filepath.Join(out, "tree/sub/x"), []byte("x"), 0o644)
	e.must("cp", filepath.Join(out, "tree")+"/.", "box:/d")
	if r := e.must("exec", "box", "cat", "/d/sub/x"); r.stdout != "x" {
		t.Errorf("/d/sub/x = %q", r.stdout)
	}

	// Tar streams both ways.
	r := e.must("cp", "box:/d", "-")
	names := tarNames(t, r.stdout)
	if !strings.Contains(names, "d/f\n") || !strings.Contains(names, "d/link\n") {
		t.Errorf("cp box:/d - listed %q", names)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "fromtar", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg})
	tw.Write([]byte("tar"))
	tw.Close()
	if r := e.runStdin(&buf, "cp", "-", "box:/evil"); r.code != 0 {
		t.Fatalf("cp - box:/evil: %s", r)
	}
	if r := e.must("exec", "box", "cat", "/etc/fromtar"); r.stdout != "tar" {
		t.Errorf("/etc/fromtar = %q", r.stdout)
	}
	if _, err := os.Stat("/etc/fromtar"); !os.IsNotExist(err) {
		t.Errorf("HOST /etc/fromtar exists: %v", err)
	}

	// Stopped: the root is mounted for the copy.
	e.must("stop", "-t", "0", "box")
	e.must("cp", "box:/etc/passwd", filepath.Join(out, "stopped"))
	if got := readFile(t, filepath.Join(out, "stopped")); got != "written by cp\n" {
		t.Errorf("cp from a stopped container: %q", got)
	}
	e.must("cp", src, "box:/d/while-stopped")
	e.must("start", "box")
	if r := e.must("exec", "box", "cat", "/d/while-stopped"); r.stdout != "written by cp\n" {
		t.Errorf("a file copied while stopped: %q", r.stdout)
	}

	// Bad input: one line naming it, nothing written.
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"cp", "box:/../etc/passwd", filepath.Join(out, "escape")}, "box:/../etc/passwd: path leaves the container's root"},
		{[]string{"cp", src, "box:../../x"}, "path leaves the container's root"},
		{[]string{"cp", "nosuch:/etc/passwd", filepath.Join(out, "nosuch")}, `"nosuch": no such container`},
		{[]string{"cp", "box:/no/such", filepath.Join(out, "missing")}, "box:/no/such: no such file or directory"},
		{[]string{"cp", src, "box:/no/such/dir/x"}, "does not exist in the container"},
		{[]string{"cp", filepath.Join(out, "a"), filepath.Join(out, "b")}, "one side must be CONTAINER:PATH"},
	} {
		r := e.run(bad.args...)
		if r.code == 0 || !strings.Contains(r.stderr, bad.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("stockade %v: want one error line with %q: %s", bad.args, bad.want, r)
		}
	}
	for _, p := range []string{"escape", "nosuch", "missing"} {
		if _, err := os.Lstat(filepath.Join(out, p)); !os.IsNotExist(err) {
			t.Errorf("a failed cp made %s: %v", p, err)
		}
	}
}

// tarNames lists the entries of a tar stream, one per line.
func tarNames(t *testing.T, s string) string {
	t.Helper()
	tr := tar.NewReader(strings.NewReader(s))
	var b strings.Builder
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return b.String()
		}
		if err != nil {
			t.Fatalf("tar: %v", err)
		}
		b.WriteString(hdr.Name + "\n")
	}
}
