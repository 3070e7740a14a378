package backend

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/stockade/stockade/config"
	"github.com/stockade/stockade/copysnap"
	"github.com/stockade/stockade/linux/overlay"
	"github.com/stockade/stockade/snapshot"
	"github.com/stockade/stockade/unionfs"
	"github.com/stockade/stockade/zfs"
)

// Snapshotter is one row of the snapshotter table.
type Snapshotter struct {
	// Name is the name users give (--snapshotter, snapshotter = "..."),
	// one of config.Snapshotters.
	Name string
	// OS lists the systems it works on; none means every system.
	OS []string
	// Auto lists the systems on which the automatic choice considers it.
	// The choice takes the first row, in table order, whose probe passes.
	Auto []string
	// Probe reports whether the host can use it with cfg; nil passes.
	Probe func(cfg config.Config) bool
	// Open opens it with its files under dir.
	Open func(ctx context.Context, cfg config.Config, dir string) (snapshot.Snapshotter, error)
}

// Host is what the snapshotter probes ask the running system. Tests
// replace it.
type Host struct {
	// DatasetExists reports whether a ZFS dataset exists.
	DatasetExists func(dataset string) bool
	// UnionfsUsable reports whether the unionfs snapshotter works with
	// its files under dir.
	UnionfsUsable func(dir string) bool
}

// SystemHost asks the running system: zfs(8) for datasets, a unionfs
// snapshotter opened (and closed) for unionfs.
func SystemHost() Host {
	return Host{
		DatasetExists: func(ds string) bool {
			return exec.Command("zfs", "list", "-H", "-o", "name", ds).Run() == nil
		},
		UnionfsUsable: func(dir string) bool {
			u, err := unionfs.New(dir)
			if err != nil {
				return false
			}
			u.Close()
			return true
		},
	}
}

// SnapshotterTable is the table of snapshotters, in the order of the
// automatic choice.
type SnapshotterTable []Snapshotter

// Snapshotters returns the snapshotter table with probes that ask h. The
// automatic choice takes overlay on Linux; on FreeBSD zfs when the
// configured dataset exists, else unionfs when it works under the data
// root, else copy.
func Snapshotters(h Host) SnapshotterTable {
	return SnapshotterTable{
		{
			Name: "overlay", OS: []string{"linux"}, Auto: []string{"linux"},
			Open: func(_ context.Context, _ config.Config, dir string) (snapshot.Snapshotter, error) {
				return overlay.New(dir)
			},
		},
		{
			Name: "zfs", OS: []string{"freebsd", "linux"}, Auto: []string{"freebsd"},
			Probe: func(cfg config.Config) bool {
				return cfg.ZFS.Dataset != "" && h.DatasetExists != nil && h.DatasetExists(cfg.ZFS.Dataset)
			},
			Open: func(ctx context.Context, cfg config.Config, dir string) (snapshot.Snapshotter, error) {
				if cfg.ZFS.Dataset == "" {
					return nil, fmt.Errorf("snapshotter zfs: set [zfs] dataset in the configuration (for example zroot/stockade)")
				}
				return zfs.New(ctx, zfs.Config{Dataset: cfg.ZFS.Dataset, Root: dir})
			},
		},
		{
			Name: "unionfs", OS: []string{"freebsd"}, Auto: []string{"freebsd"},
			Probe: func(cfg config.Config) bool {
				return h.UnionfsUsable != nil && h.UnionfsUsable(SnapshotterDir(cfg, "unionfs"))
			},
			Open: func(_ context.Context, _ config.Config, dir string) (snapshot.Snapshotter, error) {
				return unionfs.New(dir)
			},
		},
		{
			Name: "copy", Auto: []string{"freebsd"},
			Open: func(_ context.Context, _ config.Config, dir string) (snapshot.Snapshotter, error) {
				return copysnap.New(dir)
			},
		},
	}
}

// Names returns the table's names in order.
func (t SnapshotterTable) Names() []string {
	names := make([]string, len(t))
	for i, s := range t {
		names[i] = s.Name
	}
	return names
}

// Choose picks the snapshotter for goos: the configured one, else the
// first row available and automatic on goos whose probe passes, else copy,
// which works everywhere.
func (t SnapshotterTable) Choose(cfg config.Config, goos string) string {
	if cfg.Snapshotter != "" {
		return cfg.Snapshotter
	}
	for _, s := range t {
		if availableOn(s.OS, goos) && slices.Contains(s.Auto, goos) && (s.Probe == nil || s.Probe(cfg)) {
			return s.Name
		}
	}
	return "copy"
}

// Lookup returns the row of the snapshotter name, or an error saying that
// there is none or that it is not available on goos.
func (t SnapshotterTable) Lookup(name, goos string) (Snapshotter, error) {
	i := slices.IndexFunc(t, func(s Snapshotter) bool { return s.Name == name })
	if i < 0 {
		return Snapshotter{}, fmt.Errorf("snapshotter %q is not one of %v on %s", name, t.Names(), goos)
	}
	if s := t[i]; !availableOn(s.OS, goos) {
		return Snapshotter{}, fmt.Errorf("snapshotter %s is not available on %s (it works on %s)", name, goos, systems(s.OS))
	}
	return t[i], nil
}

// Open opens the snapshotter name of this system, with its files under
// the data root (SnapshotterDir).
func (t SnapshotterTable) Open(ctx context.Context, name string, cfg config.Config) (snapshot.Snapshotter, error) {
	s, err := t.Lookup(name, runtime.GOOS)
	if err != nil {
		return nil, err
	}
	return s.Open(ctx, cfg, SnapshotterDir(cfg, name))
}

// SnapshotterDir is where the snapshotter name keeps its files:
// <root>/snapshots/<name>.
func SnapshotterDir(cfg config.Config, name string) string {
	return filepath.Join(cfg.Root, "snapshots", name)
}
