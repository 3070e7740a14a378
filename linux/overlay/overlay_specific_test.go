package overlay

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stockade/stockade/internal/testenv"
	"github.com/stockade/stockade/mount"
	"github.com/stockade/stockade/snapshot"
	"github.com/stockade/stockade/snapshot/snapshottest"
	"github.com/stockade/stockade/snapshot/storage"
)

// commitLayer prepares name-active on parent, writes files into it and
// commits it as name. It returns the layer's directory.
func commitLayer(t testing.TB, o *Snapshotter, name, parent string, files map[string]string) string {
	t.Helper()
	dir, _ := snapshottest.CommitFiles(t, o, name, parent, files)
	return dir
}

func TestOverlayMounts(t *testing.T) {
	o := newTestOverlay(t)
	ctx := t.Context()
	d1 := commitLayer(t, o, "l1", "", nil)
	d2 := commitLayer(t, o, "l2", "l1", nil)
	d3 := commitLayer(t, o, "l3", "l2", nil)

	// want describes a mount: type, source and options; "<fs>" in an
	// option stands for the new snapshot's own fs dir and "<work>" for
	// its work dir.
	tests := []struct {
		name, key, parent string
		view              bool
		wantType          string
		wantSource        string
		wantOptions       []string
	}{
		{"active base layer", "a0", "", false, "bind", "<fs>", []string{"rw"}},
		{"active on one layer", "a1", "l1", false, "overlay", "overlay",
			[]string{"workdir=<work>", "upperdir=<fs>", "lowerdir=" + d1}},
		{"active on three layers, top first", "a3", "l3", false, "overlay", "overlay",
			[]string{"workdir=<work>", "upperdir=<fs>", "lowerdir=" + d3 + ":" + d2 + ":" + d1}},
		{"empty view", "v0", "", true, "bind", "<fs>", []string{"ro"}},
		{"view of one layer", "v1", "l1", true, "bind", d1, []string{"ro"}},
		{"view of two layers", "v2", "l2", true, "overlay", "overlay", []string{"ro", "lowerdir=" + d2 + ":" + d1}},
		{"view of three layers", "v3", "l3", true, "overlay", "overlay", []string{"ro", "lowerdir=" + d3 + ":" + d2 + ":" + d1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m []snapshot.Mount
			var err error
			if tc.view {
				m, err = o.View(ctx, tc.key, tc.parent)
			} else {
				m, err = o.Prepare(ctx, tc.key, tc.parent)
			}
			if err != nil {
				t.Fatal(err)
			}
			s, err := o.Store().GetSnapshot(ctx, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			expand := func(v string) string {
				v = strings.ReplaceAll(v, "<fs>", o.FSDir(s.ID))
				return strings.ReplaceAll(v, "<work>", o.workDir(s.ID))
			}
			var opts []string
			for _, opt := range tc.wantOptions {
				opts = append(opts, expand(opt))
			}
			if o.indexOff && tc.wantType == "overlay" {
				opts = slices.Insert(opts, slices.IndexFunc(opts, func(s string) bool { return s != "ro" }), "index=off")
			}
			want := []snapshot.Mount{{Type: tc.wantType, Source: expand(tc.wantSource), Options: opts}}
			if fmt.Sprint(m) != fmt.Sprint(want) {
				t.Errorf("mounts\n got %v\nwant %v", m, want)
			}
			again, err := o.Mounts(ctx, tc.key)
			if err != nil || fmt.Sprint(again) != fmt.Sprint(m) {
				t.Errorf("Mounts(%q) = %v, %v; Prepare/View returned %v", tc.key, again, err, m)
			}
			if !tc.view {
				dir, format, err := o.ApplyDir(ctx, tc.key)
				if err != nil || dir != o.FSDir(s.ID) || format != snapshot.WhiteoutOverlay {
					t.Errorf("ApplyDir(%q) = %q, %v, %v", tc.key, dir, format, err)
				}
			}
		})
	}
}

func TestOverlayLowerOrder(t *testing.T) {
	// The nearest layer wins for a file present in every layer.
	testenv.RequireRoot(t, "mounting")
	o := newTestOverlay(t)
	ctx := t.Context()
	parent := ""
	for i := 1; i <= 4; i++ {
		name := fmt.Sprintf("l%d", i)
		commitLayer(t, o, name, parent, map[string]string{"f": name, name: name})
		parent = name
	}
	for _, tc := range []struct{ key, parent, want string }{
		{"c2", "l2", "l2"}, {"c3", "l3", "l3"}, {"c4", "l4", "l4"},
	} {
		m, err := o.Prepare(ctx, tc.key, tc.parent)
		if err != nil {
			t.Fatal(err)
		}
		target := t.TempDir()
		if err := mount.All(m, target); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(target, "f"))
		if uerr := mount.UnmountAll(target); uerr != nil {
			t.Fatal(uerr)
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%s on %s: f = %q, %v; want %q", tc.key, tc.parent, got, err, tc.want)
		}
	}
}

func TestOverlayCleanup(t *testing.T) {
	o := newTestOverlay(t)
	ctx := t.Context()
	commitLayer(t, o, "base", "", map[string]string{"f": "x"})
	if _, err := o.Prepare(ctx, "active", "base"); err != nil {
		t.Fatal(err)
	}
	if _, err := o.View(ctx, "view", "base"); err != nil {
		t.Fatal(err)
	}
	kept := map[string]bool{}
	for _, k := range []string{"base", "active", "view"} {
		s, err := o.Store().GetSnapshot(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		kept[filepath.Base(o.Dirs().Path(s.ID))] = true
	}

	// A removal that crashed after deleting the record.
	if _, err := o.Prepare(ctx, "half-removed", "base"); err != nil {
		t.Fatal(err)
	}
	rec, err := o.Store().Remove(ctx, "half-removed")
	if err != nil {
		t.Fatal(err)
	}
	halfRemoved := filepath.Base(o.Dirs().Path(rec.ID))

	root := o.Dirs().Root()
	mk := func(name string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(root, name, "fs", "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name, "fs", "sub", "file"), []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Garbage of crashes: an id with no record, a staged dir whose maker
	// died, a trash dir. An entry of unknown name is left alone.
	for _, n := range []string{"9999", "new-123", "rm-456", "unknown"} {
		mk(n)
	}
	// A staged dir whose maker is alive (this test) must survive.
	live, err := o.Dirs().Stage()
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()

	if err := o.Cleanup(ctx); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	want := []string{filepath.Base(live.Path()), "unknown"}
	for k := range kept {
		want = append(want, k)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("after Cleanup %s holds %q, want %q (half-removed was %s)", root, got, want, halfRemoved)
	}
	// The snapshots still work.
	if _, err := o.Mounts(ctx, "active"); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(o.Root(), "snapshots", halfRemoved)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("half-removed snapshot dir still there: %v", err)
	}
	// Once its maker is done, the staged dir goes too.
	live.Close()
	if err := o.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(live.Path()); err == nil {
		t.Errorf("abandoned staged dir %s survived Cleanup", live.Path())
	}
}

// TestOverlayLeftoverDir simulates a crash after a snapshot's directory
// was renamed into place but before its record was committed: the next
// Prepare gets the same id and must replace the leftover.
func TestOverlayLeftoverDir(t *testing.T) {
	o := newTestOverlay(t)
	ctx := t.Context()
	commitLayer(t, o, "base", "", nil)
	base, err := o.Store().GetSnapshot(ctx, "base")
	if err != nil {
		t.Fatal(err)
	}
	next := base.ID + 1
	junk := filepath.Join(o.FSDir(next), "junk")
	if err := os.MkdirAll(filepath.Dir(junk), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(junk, []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Prepare(ctx, "ctr", "base"); err != nil {
		t.Fatal(err)
	}
	s, err := o.Store().GetSnapshot(ctx, "ctr")
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != next {
		t.Fatalf("ctr got id %d, want %d", s.ID, next)
	}
	if _, err := os.Stat(junk); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover file survived into the new snapshot: %v", err)
	}
	if _, err := os.Stat(o.workDir(next)); err != nil {
		t.Errorf("new snapshot has no work dir: %v", err)
	}
}

// TestOverlayFailedPrepare checks that a refused Prepare leaves no
// directory behind.
func TestOverlayFailedPrepare(t *testing.T) {
	o := newTestOverlay(t)
	ctx := t.Context()
	commitLayer(t, o, "base", "", nil)
	for _, tc := range []struct{ key, parent string }{
		{"base", ""}, {"x", "missing"}, {"base-active", "nope"}, {"bad/key", ""},
	} {
		if _, err := o.Prepare(ctx, tc.key, tc.parent); err == nil {
			t.Errorf("Prepare(%q, %q) succeeded", tc.key, tc.parent)
		}
	}
	ents, err := os.ReadDir(o.Dirs().Root())
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		t.Errorf("failed Prepares left %v", ents)
	}
}

func TestOverlayTooManyLayers(t *testing.T) {
	o := newTestOverlay(t)
	ctx := t.Context()
	max := maxLayers(o.Dirs().Root(), 1, o.indexOff)
	t.Logf("root %s: MaxLayers (7-digit ids) %d, with the ids of this test about %d", o.Dirs().Root(), o.MaxLayers(), max)
	parent := ""
	var depth int
	var err error
	for depth = 0; depth < 1000; depth++ {
		name := fmt.Sprintf("l%d", depth+1)
		key := name + "-active"
		if _, err = o.Prepare(ctx, key, parent); err != nil {
			break
		}
		if err := o.Commit(ctx, name, key); err != nil {
			t.Fatal(err)
		}
		parent = name
	}
	if !errors.Is(err, ErrTooManyLayers) {
		t.Fatalf("Prepare at depth %d: %v, want ErrTooManyLayers", depth, err)
	}
	if !strings.Contains(err.Error(), fmt.Sprint(o.MaxLayers())) || !strings.Contains(err.Error(), "l"+fmt.Sprint(depth+1)+"-active") {
		t.Errorf("error %q names neither the key nor the limit", err)
	}
	// ids grow from 1 digit to 2 or 3 along the chain: the reached depth
	// lies between the bounds for 3-digit and 1-digit ids.
	if lo := maxLayers(o.Dirs().Root(), 3, o.indexOff); depth < lo || depth > max {
		t.Errorf("chain stopped at %d layers, want between %d and %d", depth, lo, max)
	}
	// A view needs no upperdir and workdir: one more layer fits.
	viewMounts, err := o.View(ctx, "too-deep-view", parent)
	if err != nil {
		t.Errorf("View of the deepest layer (a chain of %d): %v; a view fits one more layer", depth, err)
	}
	if _, err := o.Stat(ctx, fmt.Sprintf("l%d-active", depth+1)); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("refused Prepare left a record: %v", err)
	}
	testenv.RequireRoot(t, "mounting the deepest chain")
	// The deepest chain accepted really mounts, and so does the view one
	// layer deeper.
	if viewMounts != nil {
		target := t.TempDir()
		if err := mount.All(viewMounts, target); err != nil {
			t.Errorf("mount the view of %d layers: %v", depth, err)
		} else if err := mount.UnmountAll(target); err != nil {
			t.Fatal(err)
		}
	}
	parentOfDeepest := fmt.Sprintf("l%d", depth-1)
	m, err := o.Prepare(ctx, "deepest", parentOfDeepest)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("deepest mount: %d layers, %d bytes of options", depth-1, len(mount.ParseOptions(m[0].Options).Data))
	target := t.TempDir()
	if err := mount.All(m, target); err != nil {
		t.Fatalf("mount the deepest chain: %v", err)
	}
	if err := mount.UnmountAll(target); err != nil {
		t.Fatal(err)
	}
}

func TestMaxLayersDoc(t *testing.T) {
	// The numbers quoted in the package documentation.
	for _, tc := range []struct {
		digits, want int
	}{{7, 86}, {3, 94}} {
		if got := maxLayers("/var/db/stockade/overlay/snapshots", tc.digits, false); got != tc.want {
			t.Errorf("maxLayers(/var/db/stockade/overlay, %d digits) = %d, want %d", tc.digits, got, tc.want)
		}
	}
}

func TestNewOverlayErrors(t *testing.T) {
	if _, err := New(""); err == nil {
		t.Error("New(\"\") succeeded")
	}
	testenv.RequireRoot(t, "mounting")
	// overlayfs cannot be the upper file system of another overlay.
	merged := overlayDir(t)
	_, err := New(filepath.Join(merged, "root"))
	if err == nil {
		t.Skip("this kernel accepts overlayfs as an upper file system")
	}
	if !strings.Contains(err.Error(), "cannot use") {
		t.Errorf("New on overlayfs: %v; want an error saying overlayfs cannot use it", err)
	}
}

// TestOverlaySharedRoot runs two snapshotters on the same root, as two
// processes would, preparing and removing concurrently.
func TestOverlaySharedRoot(t *testing.T) {
	root := t.TempDir()
	var os2 [2]*Snapshotter
	for i := range os2 {
		o, err := New(root)
		if err != nil {
			testenv.Unavailable(t, "overlay snapshotter unavailable: %v", err)
		}
		os2[i] = o
	}
	commitLayer(t, os2[0], "base", "", map[string]string{"f": "base"})
	ctx := t.Context()
	const perWorker = 10
	var wg sync.WaitGroup
	errs := make(chan error, 4*perWorker)
	for w := 0; w < 4; w++ {
		o := os2[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				key := fmt.Sprintf("w%d-%d", w, i)
				if _, err := o.Prepare(ctx, key, "base"); err != nil {
					errs <- err
					return
				}
				if i%2 == 0 {
					if err := o.Commit(ctx, key+"-c", key); err != nil {
						errs <- err
						return
					}
				}
			}
			// Cleanup must not touch the others' work in progress.
			if err := o.Cleanup(ctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkShared(t, os2[1], 4*perWorker+1)
}

// checkShared checks that o holds n snapshots with distinct ids, each with
// its directory.
func checkShared(t *testing.T, o *Snapshotter, n int) {
	t.Helper()
	ctx := context.Background()
	ids := map[uint64]string{}
	err := o.Store().Walk(ctx, func(_ context.Context, r storage.Record) error {
		if other, dup := ids[r.ID]; dup {
			t.Errorf("%q and %q share id %d", r.Name, other, r.ID)
		}
		ids[r.ID] = r.Name
		if _, err := os.Stat(o.FSDir(r.ID)); err != nil {
			t.Errorf("%q: %v", r.Name, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != n {
		t.Errorf("%d snapshots, want %d", len(ids), n)
	}
	ents, _ := os.ReadDir(o.Dirs().Root())
	if len(ents) != n {
		t.Errorf("%d entries in %s, want %d", len(ents), o.Dirs().Root(), n)
	}
}

const helperEnv = "STOCKADE_OVERLAY_HELPER"

// TestOverlayHelperProcess is not a test: TestOverlayTwoProcesses runs the
// test binary again with helperEnv set to "root:prefix:count" to prepare
// snapshots from another process.
func TestOverlayHelperProcess(t *testing.T) {
	spec := os.Getenv(helperEnv)
	if spec == "" {
		t.Skip("helper process only")
	}
	parts := strings.Split(spec, ":")
	var n int
	fmt.Sscan(parts[2], &n)
	o, err := New(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("%s-%d", parts[1], i)
		if _, err := o.Prepare(ctx, key, "base"); err != nil {
			t.Fatal(err)
		}
		if err := o.Commit(ctx, key+"-c", key); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if err := o.Remove(ctx, key+"-c"); err != nil {
				t.Fatal(err)
			}
		}
		if i%5 == 0 {
			if err := o.Cleanup(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestOverlayTwoProcesses prepares, commits, removes and cleans up from
// two processes and this one at once on the same root.
func TestOverlayTwoProcesses(t *testing.T) {
	o := newTestOverlay(t)
	commitLayer(t, o, "base", "", nil)
	const n = 15
	var cmds []*exec.Cmd
	for _, prefix := range []string{"p1", "p2"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestOverlayHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s:%s:%d", helperEnv, o.Root(), prefix, n))
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s output:\n%s", prefix, out.String())
			}
		})
	}
	ctx := t.Context()
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("p0-%d", i)
		if _, err := o.Prepare(ctx, key, "base"); err != nil {
			t.Fatal(err)
		}
		if err := o.Commit(ctx, key+"-c", key); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if err := o.Remove(ctx, key+"-c"); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper process: %v", err)
		}
	}
	if err := o.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	// Each process keeps n - ceil(n/3) snapshots; plus base.
	checkShared(t, o, 3*(n-(n+2)/3)+1)
}

// TestRootPathRefused: a root with ',' or ':' would make every overlay
// mount of its snapshots fail (or mount the wrong lower directories); New
// refuses it at once, naming the character.
func TestRootPathRefused(t *testing.T) {
	for _, tc := range []struct {
		root string
		bad  string
	}{
		{"/var/db/stock,ade", "contains ','"},
		{"/var/db/stock:ade", "contains ':'"},
	} {
		err := checkRootPath(tc.root)
		if err == nil || !strings.Contains(err.Error(), tc.root) || !strings.Contains(err.Error(), tc.bad) {
			t.Errorf("checkRootPath(%q) = %v, want an error naming the path and %s", tc.root, err, tc.bad)
		}
	}
	if err := checkRootPath("/var/db/stockade/overlay"); err != nil {
		t.Errorf("a plain root refused: %v", err)
	}
}

// overlayDir returns a directory on an overlay mount of the test's,
// unmounted at its end: overlayfs refuses it as an upper directory.
func overlayDir(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	for _, d := range []string{"l", "u", "w", "m"} {
		if err := os.Mkdir(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m := []snapshot.Mount{{Type: "overlay", Source: "overlay", Options: []string{
		"lowerdir=" + filepath.Join(base, "l"), "upperdir=" + filepath.Join(base, "u"), "workdir=" + filepath.Join(base, "w")}}}
	merged := filepath.Join(base, "m")
	if err := mount.All(m, merged); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mount.UnmountAll(merged) })
	return merged
}
