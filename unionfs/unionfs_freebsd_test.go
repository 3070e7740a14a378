package unionfs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stockade/stockade/internal/testenv"
	"github.com/stockade/stockade/mount"
	"github.com/stockade/stockade/snapshot"
	"github.com/stockade/stockade/snapshot/snapshottest"
)

// The conformance suite needs root and a UFS file system for the upper
// directories. $STOCKADE_TEST_UFS names a directory on UFS to use; without
// it, the test makes a 256 MiB swap-backed md(4) device with a UFS file
// system (mdconfig, newfs), and tears it down at the end.

var (
	ufsOnce sync.Once
	ufsDir  string
	ufsErr  string
	ufsDone func()
)

func ufsRoot(t testing.TB) string {
	t.Helper()
	testenv.RequireRoot(t, "the unionfs snapshotter (it mounts)")
	ufsOnce.Do(func() {
		if d := os.Getenv("STOCKADE_TEST_UFS"); d != "" {
			ufsDir = d
			return
		}
		out, err := exec.Command("mdconfig", "-a", "-t", "swap", "-s", "256m").CombinedOutput()
		if err != nil {
			ufsErr = "mdconfig: " + err.Error() + ": " + string(out)
			return
		}
		md := strings.TrimSpace(string(out))
		dir, err := os.MkdirTemp("", "stockade-ufs-")
		if err == nil {
			if out, err = exec.Command("newfs", "-U", "/dev/"+md).CombinedOutput(); err == nil {
				out, err = exec.Command("mount", "/dev/"+md, dir).CombinedOutput()
			}
		}
		if err != nil {
			exec.Command("mdconfig", "-d", "-u", md).Run()
			ufsErr = "make a UFS file system: " + err.Error() + ": " + string(out)
			return
		}
		ufsDir = dir
		ufsDone = func() {
			exec.Command("umount", "-f", dir).Run()
			exec.Command("mdconfig", "-d", "-u", md).Run()
			os.Remove(dir)
		}
	})
	if ufsErr != "" {
		t.Skip("no UFS file system for unionfs upper directories (set STOCKADE_TEST_UFS): " + ufsErr)
	}
	return ufsDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if ufsDone != nil {
		ufsDone()
	}
	os.Exit(code)
}

var (
	rootsMu sync.Mutex
	roots   = map[testing.TB]string{}
)

// testRoot returns a directory on UFS private to t, the same on every
// call with the same t, so that the crash subtest reopens the same storage.
func testRoot(t testing.TB) string {
	t.Helper()
	base := ufsRoot(t)
	rootsMu.Lock()
	defer rootsMu.Unlock()
	if r, ok := roots[t]; ok {
		return r
	}
	r, err := os.MkdirTemp(base, "t-")
	if err != nil {
		t.Fatal(err)
	}
	roots[t] = r
	t.Cleanup(func() {
		rootsMu.Lock()
		delete(roots, t)
		rootsMu.Unlock()
		if ents, _ := os.ReadDir(filepath.Join(r, "mnt")); len(ents) > 1 {
			t.Errorf("apply mounts left: %v", ents)
		}
		os.RemoveAll(r)
	})
	return r
}

func TestConformance(t *testing.T) {
	t.Run("unionfs", func(t *testing.T) {
		snapshottest.Run(t, func(t *testing.T) snapshot.Snapshotter {
			u, err := New(testRoot(t))
			if err != nil {
				t.Fatal(err)
			}
			return u
		})
	})
}

// BenchmarkPrepare runs the shared Prepare benchmark. Prepare makes an
// empty upper directory, so its time must not depend on the parent's size.
func BenchmarkPrepare(b *testing.B) {
	snapshottest.BenchmarkPrepare(b, func(b *testing.B) snapshot.Snapshotter {
		u, err := New(testRoot(b))
		if err != nil {
			b.Fatal(err)
		}
		return u
	})
}

// TestApplyThroughUnion applies a layer with deletions and an opaque
// directory through ApplyDir's union mount, and checks that the
// committed upper directory holds whiteouts, not deletions of lower files.
func TestApplyThroughUnion(t *testing.T) {
	u, err := New(testRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := u.Prepare(ctx, "base-a", ""); err != nil {
		t.Fatal(err)
	}
	d, _, _ := u.ApplyDir(ctx, "base-a")
	os.MkdirAll(filepath.Join(d, "dir"), 0o755)
	os.WriteFile(filepath.Join(d, "dir/x"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(d, "gone"), []byte("g"), 0o644)
	if err := u.Commit(ctx, "base", "base-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Prepare(ctx, "l2-a", "base"); err != nil {
		t.Fatal(err)
	}
	d, format, err := u.ApplyDir(ctx, "l2-a")
	if err != nil || format != snapshot.WhiteoutDelete {
		t.Fatalf("ApplyDir = %s, %v, %v", d, format, err)
	}
	if ok, _ := isMountPoint(d); !ok {
		t.Fatalf("ApplyDir %s is not a mount", d)
	}
	if err := os.Remove(filepath.Join(d, "gone")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(d, "dir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(d, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := u.Commit(ctx, "l2", "l2-a"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := isMountPoint(d); ok {
		t.Errorf("Commit left %s mounted", d)
	}
	if _, err := u.View(ctx, "v", "l2"); err != nil {
		t.Fatal(err)
	}
	m, _ := u.Mounts(ctx, "v")
	target := t.TempDir()
	if err := mount.All(m, target); err != nil {
		t.Fatal(err)
	}
	_, gone := os.Lstat(filepath.Join(target, "gone"))
	_, x := os.Lstat(filepath.Join(target, "dir/x"))
	mount.UnmountAll(target)
	if gone == nil || x == nil {
		t.Errorf("deleted files show through the view: gone %v, dir/x %v", gone, x)
	}
	for _, k := range []string{"v", "l2", "base"} {
		if err := u.Remove(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
}
