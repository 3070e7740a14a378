package zfs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stockade/stockade/snapshot"
)

func TestVolumeCreateArgs(t *testing.T) {
	v := &Volumes{dataset: "zroot/stockade/volumes", root: "/var/db/stockade/snapshots/zfs/volumes"}
	for _, tc := range []struct {
		name      string
		quota     uint64
		haveGroup bool
		want      [][]string
	}{
		{"data", 0, true, [][]string{{"create", "-o", "stockade.volume:name=data", "zroot/stockade/volumes/data"}}},
		{"db", 10 << 30, false, [][]string{
			{"create", "-o", "canmount=off", "-o", "mountpoint=/var/db/stockade/snapshots/zfs/volumes", "zroot/stockade/volumes"},
			{"create", "-o", "stockade.volume:name=db", "-o", "quota=10737418240", "zroot/stockade/volumes/db"},
		}},
	} {
		if got := v.createArgs(tc.name, tc.quota, tc.haveGroup); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("createArgs(%q, %d, %v) = %q, want %q", tc.name, tc.quota, tc.haveGroup, got, tc.want)
		}
	}
	if got := v.Mountpoint("data"); got != "/var/db/stockade/snapshots/zfs/volumes/data" {
		t.Errorf("Mountpoint = %s", got)
	}
}

// TestVolumeDataset runs against a real pool (test/zfs/run.sh): a volume
// is a dataset of its own with its quota, mounted where Mountpoint says,
// can be snapshotted, is invisible to the snapshotter's check, and goes
// with Remove.
func TestVolumeDataset(t *testing.T) {
	z := newTestSnapshotter(t)
	ctx := context.Background()
	v := z.Volumes()
	mp, err := v.Create(ctx, "data", 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Remove(ctx, "data")
	if mp != v.Mountpoint("data") {
		t.Errorf("mountpoint %s, want %s", mp, v.Mountpoint("data"))
	}
	if err := os.WriteFile(filepath.Join(mp, "f"), []byte("kept"), 0o644); err != nil {
		t.Fatalf("write into the volume: %v", err)
	}
	if out := zfsCmd(t, "get", "-Hp", "-o", "value", "quota,mounted,"+PropVolume, v.Dataset("data")); strings.Fields(out)[0] != "67108864" || strings.Fields(out)[1] != "yes" || strings.Fields(out)[2] != "data" {
		t.Errorf("quota, mounted, name = %q", out)
	}
	if err := v.Snapshot(ctx, "data", "s1"); err != nil {
		t.Fatal(err)
	}
	if err := v.Snapshot(ctx, "data", "s1"); !errors.Is(err, snapshot.ErrExists) {
		t.Errorf("second snapshot s1: %v, want ErrExists", err)
	}
	// Rollback brings the file's old bytes back and destroys the later
	// snapshot; the list shows what is left.
	if err := os.WriteFile(filepath.Join(mp, "f"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := v.Snapshot(ctx, "data", "s2"); err != nil {
		t.Fatal(err)
	}
	if snaps, err := v.ListSnapshots(ctx, "data"); err != nil || len(snaps) != 2 || snaps[0].Name != "s1" || snaps[1].Name != "s2" {
		t.Errorf("ListSnapshots = %+v, %v; want s1, s2", snaps, err)
	}
	if err := v.Rollback(ctx, "data", "s1"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(mp, "f")); err != nil || string(b) != "kept" {
		t.Errorf("after rollback to s1: %q, %v", b, err)
	}
	if err := v.Rollback(ctx, "data", "nosuch"); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("rollback to a missing snapshot: %v, want ErrNotFound", err)
	}
	if err := v.RemoveSnapshot(ctx, "data", "s1"); err != nil {
		t.Fatal(err)
	}
	if snaps, err := v.ListSnapshots(ctx, "data"); err != nil || len(snaps) != 0 {
		t.Errorf("after rollback and remove: ListSnapshots = %+v, %v; want none (s2 destroyed by the rollback)", snaps, err)
	}
	if err := v.RemoveSnapshot(ctx, "data", "s1"); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("second RemoveSnapshot: %v, want ErrNotFound", err)
	}
	probs, err := z.Check(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != 0 {
		t.Errorf("check finds problems with a volume: %v", probs)
	}
	if ok, err := v.Exists(ctx, "data"); !ok || err != nil {
		t.Errorf("Exists = %v, %v", ok, err)
	}
	if err := v.Remove(ctx, "data"); err != nil {
		t.Fatal(err)
	}
	if ok, err := v.Exists(ctx, "data"); ok || err != nil {
		t.Errorf("after Remove: Exists = %v, %v", ok, err)
	}
	if err := v.Remove(ctx, "data"); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	mustZFS(t, "destroy", v.dataset) // the group, so the leak check passes
}
