package zfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stockade/stockade/snapshot"
	"github.com/stockade/stockade/snapshot/snapshottest"
)

func TestConformance(t *testing.T) {
	t.Run("zfs", func(t *testing.T) {
		testPool(t)
		snapshottest.Run(t, func(t *testing.T) snapshot.Snapshotter { return newTestSnapshotter(t) })
	})
}

// BenchmarkPrepare runs the shared Prepare benchmark. A container root is
// a clone of the top layer's snapshot, so the time must not depend on the
// parent's size.
func BenchmarkPrepare(b *testing.B) {
	snapshottest.BenchmarkPrepare(b, func(b *testing.B) snapshot.Snapshotter { return newTestSnapshotter(b) })
}

// commitLayer prepares name-active on parent, writes files into it and
// commits it as name.
func commitLayer(t testing.TB, z *Snapshotter, name, parent string, files map[string]string) {
	t.Helper()
	ctx := context.Background()
	key := name + "-active"
	if _, err := z.Prepare(ctx, key, parent); err != nil {
		t.Fatalf("Prepare(%q, %q): %v", key, parent, err)
	}
	writeFiles(t, z, key, files)
	if err := z.Commit(ctx, name, key); err != nil {
		t.Fatalf("Commit(%q, %q): %v", name, key, err)
	}
}

func writeFiles(t testing.TB, z *Snapshotter, key string, files map[string]string) {
	t.Helper()
	dir, format, err := z.ApplyDir(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if format != snapshot.WhiteoutDelete {
		t.Fatalf("ApplyDir format %v, want WhiteoutDelete", format)
	}
	for p, data := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// writeMB writes n MiB of incompressible-looking data under dir.
func writeMB(t testing.TB, dir string, n int) {
	t.Helper()
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i*7 + i>>8)
	}
	for i := 0; i < n; i++ {
		chunk[0], chunk[1] = byte(i), byte(i>>8)
		p := filepath.Join(dir, fmt.Sprintf("d%02d", i%16), fmt.Sprintf("f%03d", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, chunk, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLayout(t *testing.T) {
	z := newTestSnapshotter(t)
	ctx := t.Context()
	P := z.Dataset()
	for _, g := range []string{groupLayers, groupActive, groupViews} {
		if got := zfsGet(t, "canmount", P+"/"+g); got != "off" {
			t.Errorf("%s/%s canmount=%s, want off", P, g, got)
		}
		if got, want := zfsGet(t, "mountpoint", P+"/"+g), filepath.Join(z.Root(), g); got != want {
			t.Errorf("%s/%s mountpoint=%s, want %s", P, g, got, want)
		}
	}
	commitLayer(t, z, "sha256:base", "", map[string]string{"f": "base"})
	if _, err := z.Prepare(ctx, "ctr", "sha256:base", snapshot.WithLabels(map[string]string{LabelContainer: "web", "x": "1"})); err != nil {
		t.Fatal(err)
	}
	if _, err := z.View(ctx, "v", "sha256:base"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, prop, want string
	}{
		{P + "/layers/sha256:base", "canmount", "noauto"},
		{P + "/layers/sha256:base", "mounted", "no"},
		{P + "/layers/sha256:base", PropKey, "sha256:base"},
		{P + "/layers/sha256:base", PropKind, "committed"},
		{P + "/layers/sha256:base@layer", PropKey, "sha256:base"},
		{P + "/layers/sha256:base@layer", PropKind, "committed"},
		{P + "/active/ctr", "canmount", "on"},
		{P + "/active/ctr", "mounted", "yes"},
		{P + "/active/ctr", "mountpoint", filepath.Join(z.Root(), "active", "ctr")},
		{P + "/active/ctr", "origin", P + "/layers/sha256:base@layer"},
		{P + "/active/ctr", PropKind, "active"},
		{P + "/active/ctr", PropParent, "sha256:base"},
		{P + "/active/ctr", PropContainer, "web"},
		{P + "/active/ctr", PropLabels, `{"stockade.io/container":"web","x":"1"}`},
		{P + "/views/v", "readonly", "on"},
		{P + "/views/v", "mounted", "yes"},
		{P + "/views/v", PropKind, "view"},
	} {
		if got := zfsGet(t, tc.prop, tc.name); got != tc.want {
			t.Errorf("%s %s = %q, want %q", tc.name, tc.prop, got, tc.want)
		}
	}
	m, err := z.Mounts(ctx, "ctr")
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || m[0].Type != bindType || m[0].Source != filepath.Join(z.Root(), "active", "ctr") || m[0].ReadOnly() {
		t.Errorf("Mounts(ctr) = %v", m)
	}
	if m, err := z.Mounts(ctx, "v"); err != nil || len(m) != 1 || !m[0].ReadOnly() {
		t.Errorf("Mounts(v) = %v, %v", m, err)
	}
	for _, k := range []string{"ctr", "v", "sha256:base"} {
		if err := z.Remove(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCloneChainOrigins(t *testing.T) {
	z := newTestSnapshotter(t)
	ctx := t.Context()
	P := z.Dataset()
	commitLayer(t, z, "l1", "", map[string]string{"a": "1"})
	commitLayer(t, z, "l2", "l1", map[string]string{"b": "2"})
	commitLayer(t, z, "l3", "l2", map[string]string{"c": "3"})
	if _, err := z.Prepare(ctx, "ctr", "l3"); err != nil {
		t.Fatal(err)
	}
	if _, err := z.View(ctx, "view", "l1"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ ds, origin string }{
		{P + "/layers/l1", "-"},
		{P + "/layers/l2", P + "/layers/l1@layer"},
		{P + "/layers/l3", P + "/layers/l2@layer"},
		{P + "/active/ctr", P + "/layers/l3@layer"},
		{P + "/views/view", P + "/layers/l1@layer"},
	} {
		if got := mustZFS(t, "get", "-H", "-o", "value", "origin", tc.ds); got != tc.origin {
			t.Errorf("zfs get origin %s = %q, want %q", tc.ds, got, tc.origin)
		}
	}
	// Each layer dataset has exactly one snapshot.
	for _, l := range []string{"l1", "l2", "l3"} {
		snaps := strings.Fields(mustZFS(t, "list", "-H", "-o", "name", "-t", "snapshot", "-d", "1", P+"/layers/"+l))
		if !slices.Equal(snaps, []string{P + "/layers/" + l + "@layer"}) {
			t.Errorf("snapshots of %s: %q", l, snaps)
		}
	}
	dir, _, err := z.ApplyDir(ctx, "ctr")
	if err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]string{"a": "1", "b": "2", "c": "3"} {
		if got, err := os.ReadFile(filepath.Join(dir, f)); err != nil || string(got) != want {
			t.Errorf("container root %s = %q, %v", f, got, err)
		}
	}
	for _, k := range []string{"ctr", "view", "l3", "l2", "l1"} {
		if err := z.Remove(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
}

// TestContainerRootConstantTime checks that a container root is a clone:
// it holds no data of its own whatever the image size, and it takes about
// as long to make on a big image as on a small one.
func TestContainerRootConstantTime(t *testing.T) {
	z := newTestSnapshotter(t)
	ctx := t.Context()
	sizes := map[string]int{"small": 1, "big": 64}
	for name, mb := range sizes {
		if _, err := z.Prepare(ctx, name+"-active", ""); err != nil {
			t.Fatal(err)
		}
		dir, _, err := z.ApplyDir(ctx, name+"-active")
		if err != nil {
			t.Fatal(err)
		}
		writeMB(t, dir, mb)
		if err := z.Commit(ctx, name, name+"-active"); err != nil {
			t.Fatal(err)
		}
	}
	syscall.Sync()
	best := map[string]time.Duration{}
	for round := 0; round < 3; round++ {
		for _, name := range []string{"small", "big"} {
			key := fmt.Sprintf("ctr-%s-%d", name, round)
			start := time.Now()
			if _, err := z.Prepare(ctx, key, name); err != nil {
				t.Fatal(err)
			}
			d := time.Since(start)
			if b, ok := best[name]; !ok || d < b {
				best[name] = d
			}
			ds, err := z.DatasetOf(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if w := zfsGet(t, "written", ds); len(w) > 6 { // >= 1 MB
				t.Errorf("new container root %s has %s bytes written", ds, w)
			}
			if ref, parentRef := zfsGet(t, "referenced", ds), zfsGet(t, "referenced", z.layerSnapName(name)); ref != parentRef {
				t.Errorf("container root %s references %s bytes, its parent %s", ds, ref, parentRef)
			}
		}
	}
	t.Logf("Prepare of a container root: %s on %d MiB, %s on %d MiB (best of 3)", best["small"], sizes["small"], best["big"], sizes["big"])
	if best["big"] > 2*best["small"]+time.Second {
		t.Errorf("Prepare on %d MiB took %s, on %d MiB %s: not constant", sizes["big"], best["big"], sizes["small"], best["small"])
	}
	for round := 0; round < 3; round++ {
		for _, name := range []string{"small", "big"} {
			if err := z.Remove(ctx, fmt.Sprintf("ctr-%s-%d", name, round)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, name := range []string{"small", "big"} {
		if err := z.Remove(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRemovalOrder(t *testing.T) {
	z := newTestSnapshotter(t)
	ctx := t.Context()
	P := z.Dataset()
	commitLayer(t, z, "base", "", map[string]string{"a": "1"})
	commitLayer(t, z, "l2", "base", nil)
	commitLayer(t, z, "l3", "l2", nil)
	if _, err := z.Prepare(ctx, "ctr", "l3"); err != nil {
		t.Fatal(err)
	}
	if _, err := z.View(ctx, "v", "l2"); err != nil {
		t.Fatal(err)
	}
	all := []string{
		P + "/active/ctr",
		P + "/layers/base", P + "/layers/base@layer",
		P + "/layers/l2", P + "/layers/l2@layer",
		P + "/layers/l3", P + "/layers/l3@layer",
		P + "/views/v",
	}
	without := func(gone ...string) []string {
		return slices.DeleteFunc(slices.Clone(all), func(s string) bool {
			for _, g := range gone {
				if s == P+"/"+g || strings.HasPrefix(s, P+"/"+g+"@") {
					return true
				}
			}
			return false
		})
	}
	steps := []struct {
		remove    string
		wantErr   error
		errNames  []string // what the error must mention
		remaining []string
	}{
		{"base", snapshot.ErrHasChildren, []string{`"base"`, `"l2"`}, all},
		{"l2", snapshot.ErrHasChildren, []string{`"l3"`, `"v"`}, all},
		{"l3", snapshot.ErrHasChildren, []string{`"ctr"`}, all},
		{"ctr", nil, nil, without("active/ctr")},
		{"l3", nil, nil, without("active/ctr", "layers/l3")},
		{"l2", snapshot.ErrHasChildren, []string{`"v"`}, without("active/ctr", "layers/l3")},
		{"v", nil, nil, without("active/ctr", "layers/l3", "views/v")},
		{"l2", nil, nil, without("active/ctr", "layers/l3", "views/v", "layers/l2")},
		{"base", nil, nil, nil},
		{"base", snapshot.ErrNotFound, []string{`"base"`}, nil},
	}
	for i, st := range steps {
		err := z.Remove(ctx, st.remove)
		if st.wantErr == nil && err != nil {
			t.Fatalf("step %d: Remove(%q): %v", i, st.remove, err)
		}
		if st.wantErr != nil && !errors.Is(err, st.wantErr) {
			t.Errorf("step %d: Remove(%q) = %v, want %v", i, st.remove, err, st.wantErr)
		}
		for _, n := range st.errNames {
			if err == nil || !strings.Contains(err.Error(), n) {
				t.Errorf("step %d: error %v does not mention %s", i, err, n)
			}
		}
		got := leftovers(t, P)
		slices.Sort(got)
		want := slices.Clone(st.remaining)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("step %d: after Remove(%q) the pool holds\n%s\nwant\n%s", i, st.remove, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

func TestQuota(t *testing.T) {
	z := newTestSnapshotter(t)
	ctx := t.Context()
	commitLayer(t, z, "base", "", map[string]string{"f": strings.Repeat("b", 1<<20)})
	if _, err := z.Prepare(ctx, "bad", "base", snapshot.WithLabels(map[string]string{LabelSize: "lots"})); !errors.Is(err, ErrInvalidSize) {
		t.Errorf("Prepare with size %q: %v, want ErrInvalidSize", "lots", err)
	}
	if _, err := z.Stat(ctx, "bad"); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("a refused Prepare left a snapshot: %v", err)
	}
	if _, err := z.Prepare(ctx, "ctr", "base", snapshot.WithLabels(map[string]string{LabelSize: "4M"})); err != nil {
		t.Fatal(err)
	}
	ds, _ := z.DatasetOf(ctx, "ctr")
	if got := zfsGet(t, "quota", ds); got != fmt.Sprint(4<<20) {
		t.Errorf("quota = %s, want %d", got, 4<<20)
	}
	dir, _, err := z.ApplyDir(ctx, "ctr")
	if err != nil {
		t.Fatal(err)
	}
	// The parent's 1 MiB does not count; 2 MiB of its own fit.
	if err := os.WriteFile(filepath.Join(dir, "small"), bytes.Repeat([]byte{1, 2, 3, 4}, 1<<19), 0o644); err != nil {
		t.Fatalf("2 MiB under a 4 MiB quota: %v", err)
	}
	f, err := os.Create(filepath.Join(dir, "big"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{5, 6, 7, 8}, 1<<18)
	var werr error
	for i := 0; i < 32 && werr == nil; i++ {
		_, werr = f.Write(chunk)
		if werr == nil {
			werr = f.Sync()
		}
	}
	f.Close()
	if !errors.Is(werr, syscall.EDQUOT) {
		t.Errorf("writing 32 MiB under a 4 MiB quota: %v, want EDQUOT", werr)
	}
	if _, err := z.Prepare(ctx, "unlimited", "base", snapshot.WithLabels(map[string]string{LabelSize: "none"})); err != nil {
		t.Fatal(err)
	}
	ds, _ = z.DatasetOf(ctx, "unlimited")
	if got := zfsGet(t, "quota", ds); got != "0" {
		t.Errorf("quota with size none = %s, want 0", got)
	}
	for _, k := range []string{"ctr", "unlimited", "base"} {
		if err := z.Remove(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSnapshotRollback(t *testing.T) {
	z := newTestSnapshotter(t)
	ctx := t.Context()
	commitLayer(t, z, "base", "", map[string]string{"f": "base"})
	if _, err := z.Prepare(ctx, "ctr", "base"); err != nil {
		t.Fatal(err)
	}
	dir, _, err := z.ApplyDir(ctx, "ctr")
	if err != nil {
		t.Fatal(err)
	}
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "f"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func() string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, "f"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	write("v1")
	if err := z.Snapshot(ctx, "ctr", "s1"); err != nil {
		t.Fatal(err)
	}
	write("v2")
	if err := z.Snapshot(ctx, "ctr", "s2"); err != nil {
		t.Fatal(err)
	}
	write("v3")
	snaps, err := z.ListSnapshots(ctx, "ctr")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range snaps {
		names = append(names, s.Name)
		if s.Created.IsZero() || s.Referenced == 0 || !strings.HasSuffix(s.Dataset, "/active/ctr@"+s.Name) {
			t.Errorf("snapshot %+v", s)
		}
	}
	if !slices.Equal(names, []string{"s1", "s2"}) {
		t.Errorf("ListSnapshots = %q, want s1, s2", names)
	}
	for _, tc := range []struct {
		what string
		err  error
		want error
	}{
		{"Snapshot(s1) again", z.Snapshot(ctx, "ctr", "s1"), snapshot.ErrExists},
		{"Snapshot(layer)", z.Snapshot(ctx, "ctr", "layer"), snapshot.ErrInvalidKey},
		{"Snapshot(bad/name)", z.Snapshot(ctx, "ctr", "bad/name"), snapshot.ErrInvalidKey},
		{"Snapshot of a committed", z.Snapshot(ctx, "base", "s"), snapshot.ErrNotActive},
		{"Snapshot of missing", z.Snapshot(ctx, "missing", "s"), snapshot.ErrNotFound},
		{"Rollback to missing", z.Rollback(ctx, "ctr", "nope"), snapshot.ErrNotFound},
		{"RemoveSnapshot missing", z.RemoveSnapshot(ctx, "ctr", "nope"), snapshot.ErrNotFound},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.what, tc.err, tc.want)
		}
	}
	if err := z.Rollback(ctx, "ctr", "s1"); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "v1" {
		t.Errorf("after Rollback(s1) f = %q, want v1", got)
	}
	snaps, err = z.ListSnapshots(ctx, "ctr")
	if err != nil || len(snaps) != 1 || snaps[0].Name != "s1" {
		t.Errorf("after rollback to s1: %+v, %v; want only s1 (s2 is newer and destroyed)", snaps, err)
	}
	if err := z.RemoveSnapshot(ctx, "ctr", "s1"); err != nil {
		t.Fatal(err)
	}
	if err := z.Snapshot(ctx, "ctr", "keep"); err != nil {
		t.Fatal(err)
	}
	// Remove takes the container root's snapshots with it.
	for _, k := range []string{"ctr", "base"} {
		if err := z.Remove(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRemountAfterUnmount checks that Mounts and ApplyDir mount a dataset
// that is not mounted, as after a reboot without `zfs mount -a`.
func TestRemountAfterUnmount(t *testing.T) {
	z := newTestSnapshotter(t)
	ctx := t.Context()
	commitLayer(t, z, "base", "", map[string]string{"f": "base"})
	if _, err := z.Prepare(ctx, "ctr", "base"); err != nil {
		t.Fatal(err)
	}
	ds, _ := z.DatasetOf(ctx, "ctr")
	for _, call := range []string{"ApplyDir", "Mounts"} {
		mustZFS(t, "unmount", ds)
		var dir string
		if call == "ApplyDir" {
			d, _, err := z.ApplyDir(ctx, "ctr")
			if err != nil {
				t.Fatal(err)
			}
			dir = d
		} else {
			m, err := z.Mounts(ctx, "ctr")
			if err != nil {
				t.Fatal(err)
			}
			dir = m[0].Source
		}
		if got := zfsGet(t, "mounted", ds); got != "yes" {
			t.Errorf("after %s mounted=%s", call, got)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "f")); err != nil || string(b) != "base" {
			t.Errorf("after %s: %q, %v", call, b, err)
		}
	}
	for _, k := range []string{"ctr", "base"} {
		if err := z.Remove(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLongKeys(t *testing.T) {
	z := newTestSnapshotter(t)
	ctx := t.Context()
	long := strings.Repeat("x", 240) + ":layer"
	long2 := strings.Repeat("x", 240) + ":other"
	commitLayer(t, z, long, "", map[string]string{"f": "long"})
	if _, err := z.Prepare(ctx, long2, long); err != nil {
		t.Fatal(err)
	}
	ds, err := z.DatasetOf(ctx, long2)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds)+len("@layer") > maxNameLen || !strings.Contains(ds, "--") {
		t.Errorf("dataset of a long key: %s", ds)
	}
	info, err := z.Stat(ctx, long2)
	if err != nil || info.Parent != long || info.Kind != snapshot.KindActive {
		t.Errorf("Stat = %+v, %v", info, err)
	}
	seen := 0
	z.Walk(ctx, func(_ context.Context, i snapshot.Info) error {
		if i.Name == long || i.Name == long2 {
			seen++
		}
		return nil
	})
	if seen != 2 {
		t.Errorf("Walk saw %d of the 2 long keys", seen)
	}
	for _, k := range []string{long2, long} {
		if err := z.Remove(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCheck breaks the pool the ways crashes and hand edits do, and checks
// that Check finds each problem, repairs what it may, and that the
// snapshotter works afterwards.
func TestCheck(t *testing.T) {
	z := newTestSnapshotter(t)
	ctx := t.Context()
	P := z.Dataset()
	commitLayer(t, z, "base", "", map[string]string{"f": "base"})
	commitLayer(t, z, "l2", "base", map[string]string{"g": "l2"})
	// A healthy container root, unchanged for long: left alone.
	if _, err := z.Prepare(ctx, "ctr", "l2", snapshot.WithLabels(map[string]string{LabelContainer: "web"})); err != nil {
		t.Fatal(err)
	}
	old := formatTime(time.Now().Add(-48 * time.Hour))
	mustZFS(t, "set", PropUpdated+"="+old, P+"/active/ctr")
	if p, err := z.Check(ctx, false); err != nil || len(p) != 0 {
		t.Fatalf("Check of a healthy pool: %v, %v", p, err)
	}

	// 1. A crash between Prepare and Commit, two days ago.
	if _, err := z.Prepare(ctx, "unpack", "l2"); err != nil {
		t.Fatal(err)
	}
	mustZFS(t, "set", PropUpdated+"="+old, P+"/active/unpack")
	// 2. A crash during Commit, before the rename.
	if _, err := z.Prepare(ctx, "half", "l2"); err != nil {
		t.Fatal(err)
	}
	mustZFS(t, "snapshot", "-o", PropKey+"=l3", "-o", PropKind+"=committed", P+"/active/half@layer")
	mustZFS(t, "set", "canmount=noauto", P+"/active/half")
	// 3. A crash during Commit, after the rename.
	mustZFS(t, "set", PropKey+"=l2-active", PropKind+"=active", "canmount=on", P+"/layers/l2")
	// 4. A clone whose parent record is gone.
	if _, err := z.Prepare(ctx, "orphan", "base"); err != nil {
		t.Fatal(err)
	}
	mustZFS(t, "set", PropParent+"=ghost", P+"/active/orphan")
	// 5. A layer whose snapshot is gone.
	mustZFS(t, "create", "-o", PropKey+"=junk", "-o", PropKind+"=committed", P+"/layers/junk")
	// 6. A snapshot renamed by hand.
	if _, err := z.Prepare(ctx, "moved", ""); err != nil {
		t.Fatal(err)
	}
	mustZFS(t, "rename", P+"/active/moved", P+"/active/moved-by-hand")
	// 7. A dataset that is not stockade's.
	mustZFS(t, "create", P+"/active/admins")

	want := map[string]ProblemKind{
		P + "/active/unpack":        ProblemAbandoned,
		P + "/active/half@layer":    ProblemInterruptedCommit,
		P + "/layers/l2":            ProblemUnfinishedCommit,
		P + "/active/orphan":        ProblemOrphanClone,
		P + "/layers/junk":          ProblemLayerWithoutRecord,
		P + "/active/moved-by-hand": ProblemMisnamed,
		P + "/active/admins":        ProblemForeign,
	}
	problems, err := z.Check(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ProblemKind{}
	for _, p := range problems {
		t.Logf("found: %s", p)
		got[p.Dataset] = p.Kind
		if p.Repaired {
			t.Errorf("Check(repair=false) repaired %s", p.Dataset)
		}
	}
	for ds, k := range want {
		if got[ds] != k {
			t.Errorf("%s: found %q, want %q", ds, got[ds], k)
		}
	}
	if len(problems) != len(want) {
		t.Errorf("found %d problems, want %d", len(problems), len(want))
	}
	// Nothing changed yet.
	if _, err := z.Stat(ctx, "unpack"); err != nil {
		t.Errorf("Check without repair removed unpack: %v", err)
	}

	problems, err = z.Check(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Logf("repair: %s", p)
		if p.Repaired != (p.Kind != ProblemForeign) {
			t.Errorf("%s: repaired=%v", p, p.Repaired)
		}
	}
	problems, err = z.Check(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || problems[0].Kind != ProblemForeign {
		t.Errorf("after repair: %v, want only the foreign dataset", problems)
	}
	mustZFS(t, "destroy", P+"/active/admins")

	// The repaired state works.
	if _, err := z.Stat(ctx, "unpack"); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("abandoned unpack: Stat %v, want ErrNotFound", err)
	}
	if info, err := z.Stat(ctx, "orphan"); err != nil || info.Parent != "base" {
		t.Errorf("orphan relinked: %+v, %v; want parent base", info, err)
	}
	if got := zfsGet(t, PropKey, P+"/layers/l2"); got != "l2" {
		t.Errorf("l2's dataset key = %q after repair", got)
	}
	if got := zfsGet(t, "canmount", P+"/layers/l2"); got != "noauto" {
		t.Errorf("l2's canmount = %q after repair", got)
	}
	if info, err := z.Stat(ctx, "moved"); err != nil || info.Kind != snapshot.KindActive {
		t.Errorf("moved: %+v, %v", info, err)
	}
	writeFiles(t, z, "half", map[string]string{"h": "half"})
	if err := z.Commit(ctx, "l3", "half"); err != nil {
		t.Fatalf("Commit after an interrupted commit was repaired: %v", err)
	}
	for _, k := range []string{"ctr", "orphan", "moved", "l3", "l2", "base"} {
		if err := z.Remove(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
}

// TestInterruptedCommitIsRetried checks that Commit replaces the @layer
// snapshot an interrupted commit left, without Check.
func TestInterruptedCommitIsRetried(t *testing.T) {
	z := newTestSnapshotter(t)
	ctx := t.Context()
	if _, err := z.Prepare(ctx, "a", ""); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, z, "a", map[string]string{"f": "before"})
	mustZFS(t, "snapshot", z.dataset+"/active/a@layer")
	writeFiles(t, z, "a", map[string]string{"f": "after"})
	if err := z.Commit(ctx, "c", "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := z.View(ctx, "v", "c"); err != nil {
		t.Fatal(err)
	}
	m, _ := z.Mounts(ctx, "v")
	if b, err := os.ReadFile(filepath.Join(m[0].Source, "f")); err != nil || string(b) != "after" {
		t.Errorf("committed content %q, %v; want the content at Commit", b, err)
	}
	for _, k := range []string{"v", "c"} {
		if err := z.Remove(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCommitBusy checks that a Commit that cannot unmount the dataset
// changes nothing.
func TestCommitBusy(t *testing.T) {
	z := newTestSnapshotter(t)
	ctx := t.Context()
	if _, err := z.Prepare(ctx, "a", ""); err != nil {
		t.Fatal(err)
	}
	dir, _, _ := z.ApplyDir(ctx, "a")
	// An open file keeps the file system busy.
	f, err := os.Create(filepath.Join(dir, "open"))
	if err != nil {
		t.Fatal(err)
	}
	err = z.Commit(ctx, "c", "a")
	f.Close()
	if err == nil {
		// Linux may unmount lazily busy datasets; then it committed.
		t.Log("Commit of a busy dataset succeeded (the unmount was not refused)")
		if err := z.Remove(ctx, "c"); err != nil {
			t.Fatal(err)
		}
		return
	}
	info, serr := z.Stat(ctx, "a")
	if serr != nil || info.Kind != snapshot.KindActive {
		t.Errorf("after a failed Commit: %+v, %v; want a still active", info, serr)
	}
	if got := zfsGet(t, "canmount", z.dataset+"/active/a"); got != "on" {
		t.Errorf("canmount = %s after a failed Commit", got)
	}
	if _, err := z.Stat(ctx, "c"); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("failed Commit made c: %v", err)
	}
	if err := z.Remove(ctx, "a"); err != nil {
		t.Fatal(err)
	}
}

const helperEnv = "STOCKADE_ZFS_TEST_HELPER"

// helperMain runs in a child process started by runHelpers: it opens the
// snapshotter and runs one call, and prints "ok", "exists" or the error.
func helperMain() int {
	ctx := context.Background()
	z, err := New(ctx, Config{Dataset: os.Getenv("HELPER_DATASET"), Root: os.Getenv("HELPER_ROOT")})
	if err != nil {
		fmt.Println(err)
		return 1
	}
	// Start together: wait for the go file to appear.
	for i := 0; i < 2000; i++ {
		if _, err := os.Stat(os.Getenv("HELPER_GO")); err == nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	switch os.Getenv(helperEnv) {
	case "commit":
		err = z.Commit(ctx, os.Getenv("HELPER_NAME"), os.Getenv("HELPER_KEY"))
	case "prepare":
		_, err = z.Prepare(ctx, os.Getenv("HELPER_KEY"), os.Getenv("HELPER_PARENT"))
	}
	switch {
	case err == nil:
		fmt.Println("ok")
	case errors.Is(err, snapshot.ErrExists):
		fmt.Println("exists")
	default:
		fmt.Println(err)
	}
	return 0
}

// runHelpers runs one helper process per env at once and returns their
// outputs.
func runHelpers(t *testing.T, z *Snapshotter, envs ...[]string) []string {
	t.Helper()
	goFile := filepath.Join(t.TempDir(), "go")
	cmds := make([]*exec.Cmd, len(envs))
	outs := make([]bytes.Buffer, len(envs))
	for i, env := range envs {
		c := exec.Command(os.Args[0], "-test.run=^$")
		c.Env = append(os.Environ(), "HELPER_DATASET="+z.dataset, "HELPER_ROOT="+z.root, "HELPER_GO="+goFile)
		c.Env = append(c.Env, env...)
		c.Stdout, c.Stderr = &outs[i], &outs[i]
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = c
	}
	time.Sleep(300 * time.Millisecond) // let them open the snapshotter
	if err := os.WriteFile(goFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	res := make([]string, len(envs))
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("helper %d: %v: %s", i, err, outs[i].String())
		}
		res[i] = strings.TrimSpace(outs[i].String())
	}
	return res
}

// TestConcurrentProcesses races two processes committing different active
// snapshots to the same chain id, and preparing the same key: one wins,
// the other gets ErrExists, and nothing is left half-made.
func TestConcurrentProcesses(t *testing.T) {
	z := newTestSnapshotter(t)
	ctx := t.Context()
	commitLayer(t, z, "base", "", map[string]string{"f": "base"})
	for round := 0; round < 3; round++ {
		a, b, chain := fmt.Sprintf("a%d", round), fmt.Sprintf("b%d", round), fmt.Sprintf("sha256:chain%d", round)
		for _, k := range []string{a, b} {
			if _, err := z.Prepare(ctx, k, "base"); err != nil {
				t.Fatal(err)
			}
			writeFiles(t, z, k, map[string]string{"who": k})
		}
		res := runHelpers(t, z,
			[]string{helperEnv + "=commit", "HELPER_KEY=" + a, "HELPER_NAME=" + chain},
			[]string{helperEnv + "=commit", "HELPER_KEY=" + b, "HELPER_NAME=" + chain})
		sorted := slices.Clone(res)
		slices.Sort(sorted)
		if !slices.Equal(sorted, []string{"exists", "ok"}) {
			t.Fatalf("round %d: racing commits returned %q, want one ok and one exists", round, res)
		}
		loser := a
		if res[1] == "exists" {
			loser = b
		}
		if info, err := z.Stat(ctx, chain); err != nil || info.Kind != snapshot.KindCommitted {
			t.Errorf("round %d: %s: %+v, %v", round, chain, info, err)
		}
		if info, err := z.Stat(ctx, loser); err != nil || info.Kind != snapshot.KindActive {
			t.Errorf("round %d: the loser %s: %+v, %v; want it still active", round, loser, info, err)
		}
		if p, err := z.Check(ctx, false); err != nil || len(p) != 0 {
			t.Errorf("round %d: Check after the race: %v, %v", round, p, err)
		}
		for _, k := range []string{loser, chain} {
			if err := z.Remove(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
	}
	res := runHelpers(t, z,
		[]string{helperEnv + "=prepare", "HELPER_KEY=same", "HELPER_PARENT=base"},
		[]string{helperEnv + "=prepare", "HELPER_KEY=same", "HELPER_PARENT=base"},
		[]string{helperEnv + "=prepare", "HELPER_KEY=same", "HELPER_PARENT=base"})
	slices.Sort(res)
	if !slices.Equal(res, []string{"exists", "exists", "ok"}) {
		t.Errorf("racing Prepare of one key: %q", res)
	}
	for _, k := range []string{"same", "base"} {
		if err := z.Remove(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
}
