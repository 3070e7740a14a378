package mount

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/internal/testenv"
	"github.com/stockade/stockade/snapshot"
)

func TestFlagValues(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ours, sys uintptr
	}{
		{"MS_RDONLY", msRdonly, unix.MS_RDONLY},
		{"MS_NOSUID", msNosuid, unix.MS_NOSUID},
		{"MS_NODEV", msNodev, unix.MS_NODEV},
		{"MS_NOEXEC", msNoexec, unix.MS_NOEXEC},
		{"MS_SYNCHRONOUS", msSynchronous, unix.MS_SYNCHRONOUS},
		{"MS_REMOUNT", msRemount, unix.MS_REMOUNT},
		{"MS_MANDLOCK", msMandlock, unix.MS_MANDLOCK},
		{"MS_DIRSYNC", msDirsync, unix.MS_DIRSYNC},
		{"MS_NOATIME", msNoatime, unix.MS_NOATIME},
		{"MS_NODIRATIME", msNodiratime, unix.MS_NODIRATIME},
		{"MS_BIND", msBind, unix.MS_BIND},
		{"MS_REC", msRec, unix.MS_REC},
		{"MS_UNBINDABLE", msUnbindable, unix.MS_UNBINDABLE},
		{"MS_PRIVATE", msPrivate, unix.MS_PRIVATE},
		{"MS_SLAVE", msSlave, unix.MS_SLAVE},
		{"MS_SHARED", msShared, unix.MS_SHARED},
		{"MS_RELATIME", msRelatime, unix.MS_RELATIME},
		{"MS_STRICTATIME", msStrictatime, unix.MS_STRICTATIME},
	} {
		if tc.ours != tc.sys {
			t.Errorf("%s = %#x here, %#x in x/sys/unix", tc.name, tc.ours, tc.sys)
		}
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t, "mounting")
}

// mountInfo returns the options and fs type of the topmost mount at target
// as /proc/self/mountinfo shows them.
func mountInfo(t *testing.T, target string) (fstype, opts string, ok bool) {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 || f[4] != target {
			continue
		}
		sep := 6
		for sep < len(f) && f[sep] != "-" {
			sep++
		}
		fstype, opts, ok = f[sep+1], f[5]+","+f[sep+3], true
	}
	return fstype, opts, ok
}

func TestAllKinds(t *testing.T) {
	needRoot(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("src"), 0o644); err != nil {
		t.Fatal(err)
	}
	lower2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(lower2, "g"), []byte("low"), 0o644); err != nil {
		t.Fatal(err)
	}
	upper, work := t.TempDir(), t.TempDir()
	tests := []struct {
		name     string
		m        snapshot.Mount
		wantType string
		wantOpts []string
		wantFile string // "name=content"
		writable bool
	}{
		{"bind rw", snapshot.Mount{Type: "bind", Source: src, Options: []string{"rw"}}, "ext4", []string{"rw"}, "f=src", true},
		{"bind ro", snapshot.Mount{Type: "bind", Source: src, Options: []string{"ro"}}, "", []string{"ro"}, "f=src", false},
		{"bind ro nosuid", snapshot.Mount{Type: "bind", Source: src, Options: []string{"ro", "nosuid", "nodev"}}, "", []string{"ro", "nosuid", "nodev"}, "f=src", false},
		{"tmpfs", snapshot.Mount{Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "size=1m", "mode=700"}}, "tmpfs", []string{"rw", "nosuid", "size=1024k", "mode=700"}, "", true},
		{"tmpfs ro", snapshot.Mount{Type: "tmpfs", Source: "tmpfs", Options: []string{"ro", "size=1m"}}, "tmpfs", []string{"ro"}, "", false},
		{"overlay", snapshot.Mount{Type: "overlay", Source: "overlay", Options: []string{
			"workdir=" + work, "upperdir=" + upper, "lowerdir=" + src + ":" + lower2}}, "overlay", []string{"rw"}, "g=low", true},
		{"overlay ro lowers only", snapshot.Mount{Type: "overlay", Source: "overlay", Options: []string{
			"ro", "lowerdir=" + src + ":" + lower2}}, "overlay", []string{"ro"}, "f=src", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := t.TempDir()
			if err := All([]snapshot.Mount{tc.m}, target); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := UnmountAll(target); err != nil {
					t.Error(err)
				}
				if _, _, ok := mountInfo(t, target); ok {
					t.Errorf("%s still mounted", target)
				}
			}()
			fstype, opts, ok := mountInfo(t, target)
			if !ok {
				t.Fatalf("%s is not in mountinfo", target)
			}
			if tc.wantType != "" && fstype != tc.wantType {
				t.Errorf("fs type %q, want %q", fstype, tc.wantType)
			}
			have := map[string]bool{}
			for _, o := range strings.Split(opts, ",") {
				have[o] = true
			}
			for _, w := range tc.wantOpts {
				if !have[w] {
					t.Errorf("options %q lack %q", opts, w)
				}
			}
			if name, content, ok := strings.Cut(tc.wantFile, "="); ok {
				if got, err := os.ReadFile(filepath.Join(target, name)); err != nil || string(got) != content {
					t.Errorf("%s = %q, %v; want %q", name, got, err, content)
				}
			}
			err := os.WriteFile(filepath.Join(target, "new"), []byte("x"), 0o644)
			if tc.writable && err != nil {
				t.Errorf("write to a rw mount: %v", err)
			}
			if !tc.writable && !errors.Is(err, unix.EROFS) {
				t.Errorf("write to a ro mount: %v, want EROFS", err)
			}
		})
	}
}

func TestStackedAndUnmount(t *testing.T) {
	needRoot(t)
	target := t.TempDir()
	if err := Unmount(target); !errors.Is(err, ErrNotMounted) {
		t.Errorf("Unmount of a plain dir: %v, want ErrNotMounted", err)
	}
	if err := UnmountAll(target); err != nil {
		t.Errorf("UnmountAll of a plain dir: %v", err)
	}
	if err := UnmountAll(filepath.Join(target, "missing")); err != nil {
		t.Errorf("UnmountAll of a missing dir: %v", err)
	}
	tmpfs := snapshot.Mount{Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}}
	if err := All([]snapshot.Mount{tmpfs, tmpfs, tmpfs}, target); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(target, "top"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Unmount(target); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(target, "top")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after one Unmount the top tmpfs is still visible: %v", err)
	}
	if err := UnmountAll(target); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := mountInfo(t, target); ok {
		t.Errorf("%s still mounted after UnmountAll", target)
	}
}

func TestAllUndoesOnFailure(t *testing.T) {
	needRoot(t)
	target := t.TempDir()
	err := All([]snapshot.Mount{
		{Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}},
		{Type: "bind", Source: filepath.Join(target, "missing"), Options: []string{"ro"}},
	}, target)
	if err == nil {
		UnmountAll(target)
		t.Fatal("All with a missing bind source succeeded")
	}
	if !strings.Contains(err.Error(), "missing") {
		t.Errorf("error %q does not name the failing mount", err)
	}
	if _, _, ok := mountInfo(t, target); ok {
		UnmountAll(target)
		t.Errorf("the first mount was not undone")
	}
}

func TestErrors(t *testing.T) {
	target := t.TempDir()
	if err := All(nil, target); err == nil {
		t.Error("All(nil) succeeded")
	}
	long := snapshot.Mount{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=" + strings.Repeat("/x", 2048)}}
	if err := All([]snapshot.Mount{long}, target); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("All with %d bytes of data: %v, want an error about the limit", len(long.Options[0]), err)
	}
}

// TestIsMountPoint: a plain directory is not a mount point; a tmpfs and a
// bind mount of a directory of the same file system (which a device
// comparison would miss) are; a missing directory is an error.
func TestIsMountPoint(t *testing.T) {
	needRoot(t)
	base := t.TempDir()
	plain := filepath.Join(base, "plain")
	tmpfs := filepath.Join(base, "tmpfs")
	bind := filepath.Join(base, "bind")
	for _, d := range []string{plain, tmpfs, bind} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := All([]snapshot.Mount{{Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}}}, tmpfs); err != nil {
		t.Fatal(err)
	}
	defer UnmountAll(tmpfs)
	if err := All([]snapshot.Mount{{Type: "bind", Source: plain}}, bind); err != nil {
		t.Fatal(err)
	}
	defer UnmountAll(bind)
	for _, tc := range []struct {
		dir  string
		want bool
	}{{plain, false}, {tmpfs, true}, {bind, true}, {base, false}} {
		if got, err := IsMountPoint(tc.dir); err != nil || got != tc.want {
			t.Errorf("IsMountPoint(%s) = %v, %v; want %v", tc.dir, got, err, tc.want)
		}
	}
	if _, err := IsMountPoint(filepath.Join(base, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("IsMountPoint of a missing dir: %v, want ErrNotExist", err)
	}
}
