package backend

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/stockade/stockade/config"
)

func TestChooseSnapshotter(t *testing.T) {
	yes := func(string) bool { return true }
	no := func(string) bool { return false }
	tests := []struct {
		name       string
		configured string
		dataset    string
		goos       string
		exists     func(string) bool
		union      bool
		want       string
	}{
		{"linux default", "", "", "linux", no, false, "overlay"},
		{"configured wins", "copy", "zroot/st", "freebsd", yes, true, "copy"},
		{"freebsd with dataset", "", "zroot/st", "freebsd", yes, true, "zfs"},
		{"freebsd dataset missing", "", "zroot/st", "freebsd", no, true, "unionfs"},
		{"freebsd no dataset configured", "", "", "freebsd", yes, true, "unionfs"},
		{"freebsd nothing", "", "", "freebsd", no, false, "copy"},
		{"linux ignores a dataset", "", "zroot/st", "linux", yes, true, "overlay"},
		{"elsewhere copy", "", "", "darwin", yes, true, "copy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Defaults(tt.goos)
			cfg.Snapshotter, cfg.ZFS.Dataset = tt.configured, tt.dataset
			union := tt.union
			var probed []string
			host := Host{
				DatasetExists: func(ds string) bool { probed = append(probed, "zfs "+ds); return tt.exists(ds) },
				UnionfsUsable: func(dir string) bool { probed = append(probed, "unionfs "+dir); return union },
			}
			got := Snapshotters(host).Choose(cfg, tt.goos)
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			// Probes run only for the rows the choice considers, and the
			// unionfs probe looks where the snapshotter will live.
			for _, p := range probed {
				if tt.goos != "freebsd" || tt.configured != "" {
					t.Errorf("probed %q on %s with %q configured", p, tt.goos, tt.configured)
				}
				if dir, ok := strings.CutPrefix(p, "unionfs "); ok && dir != SnapshotterDir(cfg, "unionfs") {
					t.Errorf("unionfs probed at %s", dir)
				}
			}
		})
	}
}

// The table knows exactly the names the configuration accepts.
func TestSnapshotterNames(t *testing.T) {
	if got := Snapshotters(Host{}).Names(); !slices.Equal(got, config.Snapshotters) {
		t.Errorf("table %v, config.Snapshotters %v", got, config.Snapshotters)
	}
}

func TestLookupSnapshotter(t *testing.T) {
	table := Snapshotters(Host{})
	tests := []struct {
		name, goos string
		wantErr    string
	}{
		{"overlay", "linux", ""},
		{"zfs", "linux", ""},
		{"zfs", "freebsd", ""},
		{"unionfs", "freebsd", ""},
		{"copy", "freebsd", ""},
		{"copy", "darwin", ""},
		{"overlay", "freebsd", "snapshotter overlay is not available on freebsd (it works on linux)"},
		{"unionfs", "linux", "snapshotter unionfs is not available on linux (it works on freebsd)"},
		{"btrfs", "linux", `snapshotter "btrfs" is not one of [overlay zfs unionfs copy] on linux`},
	}
	for _, tt := range tests {
		s, err := table.Lookup(tt.name, tt.goos)
		switch {
		case tt.wantErr == "" && (err != nil || s.Name != tt.name || s.Open == nil):
			t.Errorf("Lookup(%s, %s) = %q, %v", tt.name, tt.goos, s.Name, err)
		case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
			t.Errorf("Lookup(%s, %s): %v, want %q", tt.name, tt.goos, err, tt.wantErr)
		}
	}
}

// Opening zfs without a dataset fails before touching anything.
func TestOpenZFSWithoutDataset(t *testing.T) {
	cfg := config.Defaults("linux")
	cfg.Root = t.TempDir()
	_, err := Snapshotters(Host{}).Open(context.Background(), "zfs", cfg)
	want := "snapshotter zfs: set [zfs] dataset in the configuration (for example zroot/stockade)"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

// The copy snapshotter opens anywhere, under <root>/snapshots/copy.
func TestOpenCopy(t *testing.T) {
	cfg := config.Defaults("linux")
	cfg.Root = t.TempDir()
	sn, err := Snapshotters(Host{}).Open(context.Background(), "copy", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	ctx := context.Background()
	if _, err := sn.Prepare(ctx, "k", ""); err != nil {
		t.Fatal(err)
	}
	dir, _, err := sn.ApplyDir(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dir, SnapshotterDir(cfg, "copy")+"/") {
		t.Errorf("copy snapshot at %s, want it under %s", dir, SnapshotterDir(cfg, "copy"))
	}
}
