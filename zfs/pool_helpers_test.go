package zfs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/stockade/stockade/snapshot/snapshottest"
)

// The tests in pool_test.go need a real ZFS pool. They use the pool named
// by $ZFSVM_POOL (set inside the OpenZFS VM of test/zfs/run.sh) or
// $STOCKADE_TEST_ZPOOL (a throwaway pool on a host with ZFS, as root).
// Without either they skip, saying how to run them; inside the VM
// ($ZFSVM=1) they never skip.

// testParent is the dataset, under the test pool, below which every test
// gets a parent dataset of its own.
const testParent = "stockade-test"

const howToRun = "ZFS tests need a ZFS pool: run test/zfs/run.sh (it builds them and runs them against OpenZFS in a VM), " +
	"or as root on a host with ZFS set STOCKADE_TEST_ZPOOL=<a throwaway pool>"

// testPool returns the pool to test on, or skips t.
func testPool(t testing.TB) string {
	t.Helper()
	pool := os.Getenv("ZFSVM_POOL")
	if pool == "" {
		pool = os.Getenv("STOCKADE_TEST_ZPOOL")
	}
	inVM := os.Getenv("ZFSVM") == "1"
	if pool == "" {
		if inVM {
			t.Fatal("ZFSVM=1 but neither $ZFSVM_POOL nor $STOCKADE_TEST_ZPOOL names a pool: the VM was started without one")
		}
		t.Skip(howToRun)
	}
	if out, err := exec.Command("zpool", "list", "-H", "-o", "name", pool).CombinedOutput(); err != nil {
		t.Fatalf("test pool %q: zpool list: %v: %s", pool, err, out)
	}
	return pool
}

var (
	datasetsMu sync.Mutex
	datasets   = map[testing.TB]string{}
)

// sanitize turns a test name into a dataset name component.
func sanitize(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.', r == ':':
			b.WriteRune(r)
		case r == '/':
			b.WriteRune('.')
		default:
			b.WriteRune('_')
		}
	}
	s := b.String()
	if len(s) > 100 {
		s = s[len(s)-100:]
	}
	return s
}

// testDataset returns the parent dataset of t, the same for every call
// with the same t. The first call destroys what an earlier run may have
// left there, and registers a cleanup that fails t if anything but the
// parent and its three group datasets is left (a leaked dataset or
// snapshot), then destroys it all.
func testDataset(t testing.TB) string {
	t.Helper()
	pool := testPool(t)
	datasetsMu.Lock()
	defer datasetsMu.Unlock()
	if ds, ok := datasets[t]; ok {
		return ds
	}
	ds := pool + "/" + testParent + "/" + sanitize(t.Name())
	zfsCmd(t, "destroy", "-r", "-f", ds) // leftovers of an earlier run; usually absent
	datasets[t] = ds
	t.Cleanup(func() {
		datasetsMu.Lock()
		delete(datasets, t)
		datasetsMu.Unlock()
		if left := leftovers(t, ds); len(left) > 0 {
			t.Errorf("leaked under %s:\n%s", ds, strings.Join(left, "\n"))
		}
		if out, err := exec.Command("zfs", "destroy", "-r", "-f", ds).CombinedOutput(); err != nil && !strings.Contains(string(out), "does not exist") {
			t.Errorf("destroy %s: %v: %s", ds, err, out)
		}
	})
	return ds
}

// leftovers lists everything under ds except ds and its group datasets.
func leftovers(t testing.TB, ds string) []string {
	t.Helper()
	out, err := exec.Command("zfs", "list", "-H", "-o", "name", "-t", "all", "-r", ds).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "does not exist") {
			return nil
		}
		t.Errorf("zfs list -r %s: %v: %s", ds, err, out)
		return nil
	}
	var left []string
	for _, n := range strings.Fields(string(out)) {
		switch n {
		case ds, ds + "/" + groupLayers, ds + "/" + groupActive, ds + "/" + groupViews:
		default:
			left = append(left, n)
		}
	}
	return left
}

// newTestSnapshotter opens a snapshotter on t's parent dataset with its
// mountpoints under snapshottest.Root(t), so that a second call with the
// same t reopens the same storage.
func newTestSnapshotter(t testing.TB) *Snapshotter {
	t.Helper()
	// Root first: cleanups run last-registered first, so the datasets
	// mounted under the root are destroyed before the root is removed.
	root := snapshottest.Root(t)
	z, err := New(context.Background(), Config{Dataset: testDataset(t), Root: root})
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// zfsCmd runs zfs and returns its output; a failure is returned in the
// output, prefixed with "error: ", for the caller to check.
func zfsCmd(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("zfs", args...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("error: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// mustZFS runs zfs and fails t if it fails.
func mustZFS(t testing.TB, args ...string) string {
	t.Helper()
	out := zfsCmd(t, args...)
	if strings.HasPrefix(out, "error: ") {
		t.Fatalf("zfs %s: %s", strings.Join(args, " "), out)
	}
	return out
}

// zfsGet returns one property of one dataset.
func zfsGet(t testing.TB, prop, name string) string {
	t.Helper()
	return mustZFS(t, "get", "-Hp", "-o", "value", prop, name)
}

// TestMain removes the pool's stockade-test dataset after the run, and
// fails the run if anything was left in it.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain())
	}
	code := m.Run()
	pool := os.Getenv("ZFSVM_POOL")
	if pool == "" {
		pool = os.Getenv("STOCKADE_TEST_ZPOOL")
	}
	if pool != "" {
		top := pool + "/" + testParent
		out, err := exec.Command("zfs", "list", "-H", "-o", "name", "-t", "all", "-r", top).CombinedOutput()
		if err == nil && strings.TrimSpace(string(out)) != top {
			fmt.Fprintf(os.Stderr, "FAIL: datasets left under %s after the tests:\n%s", top, out)
			code = 1
		}
		if err == nil {
			exec.Command("zfs", "destroy", "-r", top).Run()
		}
	}
	os.Exit(code)
}
