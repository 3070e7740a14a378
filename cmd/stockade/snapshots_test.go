package main

import (
	"os"
	"path/filepath"
	"testing"
)

// The container snapshot commands find out from the snapshotter itself
// whether it can snapshot roots; the copy snapshotter cannot.
func TestSnapshotCommandsNeedRootSnapshots(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "stockade.toml")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	global := []string{"--config", conf, "--root", dir + "/root", "--state", dir + "/state", "--snapshotter", "copy"}
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"snapshot", "ls", "c1"}, "stockade: ls: container snapshots need the zfs snapshotter (this is copy)"},
		{[]string{"snapshot", "create", "c1", "before"}, "stockade: create: container snapshots need the zfs snapshotter (this is copy)"},
		{[]string{"rollback", "c1", "before"}, "stockade: rollback: container snapshots need the zfs snapshotter (this is copy)"},
		{[]string{"snapshot", "create", "--volume", "v1", "before"}, "stockade: create --volume v1: volume snapshots need the zfs snapshotter (this is copy)"},
		{[]string{"snapshot", "ls", "--volume", "v1"}, "stockade: ls --volume v1: volume snapshots need the zfs snapshotter (this is copy)"},
		{[]string{"rollback", "--volume", "v1", "before"}, "stockade: rollback --volume v1: volume snapshots need the zfs snapshotter (this is copy)"},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(t, append(global, tt.args...)...)
		if code != 125 || stderr != tt.wantErr+"\n" {
			t.Errorf("%q: exit %d, stderr %q; want 125, %q", tt.args, code, stderr, tt.wantErr)
		}
	}
}
