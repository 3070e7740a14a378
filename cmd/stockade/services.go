package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/linux"
	"github.com/stockade/stockade/metadata"
	"github.com/stockade/stockade/snapshot"
)

// snapshotterName resolves the configured snapshotter for goos: the
// configured name, or the OS default.
func snapshotterName(configured, goos string) string {
	if configured != "" {
		return configured
	}
	if goos == "linux" {
		return "overlay"
	}
	// FreeBSD: zfs when the dataset exists, else unionfs, else copy. Until
	// those land, the choice is reported as unavailable below.
	return "zfs"
}

// openSnapshotter opens the named snapshotter under the data root.
func openSnapshotter(name, root string) (snapshot.Snapshotter, error) {
	switch name {
	case "overlay":
		return linux.NewOverlay(filepath.Join(root, "snapshots", "overlay"))
	default:
		return nil, fmt.Errorf("snapshotter %q is not available on %s yet", name, runtime.GOOS)
	}
}

// images opens what the image commands need: the metadata store, the
// snapshotter and the image service. The caller must call close.
func (a *app) images(c *cli.Context) (svc *image.Service, closeFn func(), err error) {
	db, err := metadata.Open(c.Context, filepath.Join(a.cfg.Root, metadata.FileName))
	if err != nil {
		return nil, nil, err
	}
	name := snapshotterName(a.cfg.Snapshotter, runtime.GOOS)
	sn, err := openSnapshotter(name, a.cfg.Root)
	if err != nil {
		return nil, nil, err
	}
	svc = &image.Service{
		DataRoot:           a.cfg.Root,
		DB:                 db,
		Snapshotter:        sn,
		SnapshotterName:    name,
		DefaultRegistry:    a.cfg.DefaultRegistry,
		InsecureRegistries: a.cfg.InsecureRegistries,
		Log:                a.log,
	}
	if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) && !c.Bool("quiet") {
		svc.Progress = f
	}
	return svc, func() { sn.Close() }, nil
}
