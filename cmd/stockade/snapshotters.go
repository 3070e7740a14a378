package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/stockade/stockade/config"
	"github.com/stockade/stockade/copysnap"
	"github.com/stockade/stockade/linux/overlay"
	"github.com/stockade/stockade/snapshot"
	"github.com/stockade/stockade/unionfs"
	"github.com/stockade/stockade/zfs"
)

// probes tell chooseSnapshotter what the host offers.
type probes struct {
	// datasetExists reports whether the configured ZFS dataset exists.
	datasetExists func(dataset string) bool
	// unionfsUsable reports whether unionfs works under the data root.
	unionfsUsable func() bool
}

// chooseSnapshotter picks the snapshotter: the configured one, else the
// OS default: overlay on Linux; on FreeBSD zfs when the configured dataset
// exists, else unionfs when the data root's file system supports it, else
// copy.
func chooseSnapshotter(cfg config.Config, goos string, p probes) string {
	if cfg.Snapshotter != "" {
		return cfg.Snapshotter
	}
	if goos != "freebsd" {
		return "overlay"
	}
	if cfg.ZFS.Dataset != "" && p.datasetExists != nil && p.datasetExists(cfg.ZFS.Dataset) {
		return "zfs"
	}
	if p.unionfsUsable != nil && p.unionfsUsable() {
		return "unionfs"
	}
	return "copy"
}

// hostProbes asks the running system.
func hostProbes(root string) probes {
	return probes{
		datasetExists: func(ds string) bool {
			return exec.Command("zfs", "list", "-H", "-o", "name", ds).Run() == nil
		},
		unionfsUsable: func() bool {
			u, err := unionfs.New(filepath.Join(root, "snapshots", "unionfs"))
			if err != nil {
				return false
			}
			u.Close()
			return true
		},
	}
}

// openSnapshotterByName opens the named snapshotter under the data root.
func openSnapshotterByName(ctx context.Context, name string, cfg config.Config) (snapshot.Snapshotter, error) {
	dir := filepath.Join(cfg.Root, "snapshots", name)
	switch name {
	case "overlay":
		return overlay.New(dir)
	case "copy":
		return copysnap.New(dir)
	case "unionfs":
		return unionfs.New(dir)
	case "zfs":
		if cfg.ZFS.Dataset == "" {
			return nil, fmt.Errorf("snapshotter zfs: set [zfs] dataset in the configuration (for example zroot/stockade)")
		}
		return zfs.New(ctx, zfs.Config{Dataset: cfg.ZFS.Dataset, Root: dir})
	}
	return nil, fmt.Errorf("snapshotter %q is not one of %v on %s", name, config.Snapshotters, runtime.GOOS)
}
