//go:build linux || freebsd

package engine

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCleanContainerPath(t *testing.T) {
	for in, want := range map[string]string{"": "/", "etc/passwd": "/etc/passwd", "/a/../b/": "/b", "/a/./b": "/a/b", "a/b/../..": "/"} {
		if got, err := CleanContainerPath(in); err != nil || got != want {
			t.Errorf("CleanContainerPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"/../etc", "..", "a/../../b", "/x/../../etc/passwd"} {
		if _, err := CleanContainerPath(in); !errors.Is(err, ErrOutsideRoot) {
			t.Errorf("CleanContainerPath(%q) = %v, want ErrOutsideRoot", in, err)
		}
	}
}

// A link in the root pointing at /etc is followed inside the root, both
// ways; nothing outside the root is read or written.
func TestArchiveContained(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("inside\n"), 0o644)
	os.Symlink("/etc", filepath.Join(root, "evil"))
	os.Symlink("../../../../../../etc/passwd", filepath.Join(root, "up"))

	for p, want := range map[string]string{"/evil/passwd": "etc/passwd", "/evil": "evil", "/up": "up"} {
		if got, err := ResolveInRoot(root, p, false); err != nil || got != want {
			t.Errorf("ResolveInRoot(%q, nofollow) = %q, %v; want %q", p, got, err, want)
		}
	}
	if got, err := ResolveInRoot(root, "/up", true); err != nil || got != "etc/passwd" {
		t.Errorf("ResolveInRoot(/up, follow) = %q, %v", got, err)
	}

	var buf bytes.Buffer
	if err := WriteArchive(ctx, &buf, root, "/up", ArchiveOptions{FollowLink: true, Name: "copy"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "inside\n") || strings.Contains(buf.String(), "root:x:0:0") {
		t.Errorf("archive of /up (followed) does not hold the root's own /etc/passwd")
	}
	out := t.TempDir()
	if err := ApplyArchive(ctx, out, "", &buf, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "copy")); string(b) != "inside\n" {
		t.Errorf("applied copy = %q", b)
	}

	// Into the root through the link: lands in root/etc.
	buf.Reset()
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), []byte("new"), 0o600)
	if err := WriteArchive(ctx, &buf, "/", filepath.Join(src, "f"), ArchiveOptions{Name: "stockade-cp-unit", Owner: &Owner{UID: os.Getuid(), GID: os.Getgid()}}); err != nil {
		t.Fatal(err)
	}
	rel, err := ResolveInRoot(root, "/evil", true)
	if err != nil || rel != "etc" {
		t.Fatalf("ResolveInRoot(/evil, follow) = %q, %v", rel, err)
	}
	if err := ApplyArchive(ctx, root, rel, &buf, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/stockade-cp-unit")); string(b) != "new" {
		t.Errorf("root/etc/stockade-cp-unit = %q", b)
	}
	if _, err := os.Stat("/etc/stockade-cp-unit"); !os.IsNotExist(err) {
		t.Errorf("HOST /etc/stockade-cp-unit: %v", err)
	}
	if fi, err := StatInRoot(root, "/evil/stockade-cp-unit", true); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 3 {
		t.Errorf("StatInRoot = %v, %v", fi, err)
	}
}
