package volume

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/stockade/stockade/zfs"
)

// Dir is the "local" driver: a volume is the directory
// <Root>/<name>/_data, as docker lays its local volumes out.
type Dir struct {
	// Root is <data root>/volumes.
	Root string
}

// Name is "local".
func (d *Dir) Name() string { return "local" }

// CheckOptions refuses every option: a directory has no quota.
func (d *Dir) CheckOptions(opts map[string]string) error {
	if v, ok := opts["size"]; ok {
		return fmt.Errorf("--opt size=%s: needs the zfs volume driver (the zfs snapshotter); the local driver has no quotas", v)
	}
	return unknownOptions(d.Name(), opts)
}

// Path returns the directory of the volume name's files.
func (d *Dir) Path(name string) string { return filepath.Join(d.Root, name, "_data") }

// Create makes the volume's directory, mode 0755.
func (d *Dir) Create(_ context.Context, name string, _ map[string]string) (string, error) {
	if err := os.MkdirAll(d.Root, 0o701); err != nil {
		return "", fmt.Errorf("volume %s: %w", name, err)
	}
	if err := os.Mkdir(filepath.Join(d.Root, name), 0o700); err != nil && !os.IsExist(err) {
		return "", fmt.Errorf("volume %s: %w", name, err)
	}
	p := d.Path(name)
	if err := os.Mkdir(p, 0o755); err != nil && !os.IsExist(err) {
		return "", fmt.Errorf("volume %s: %w", name, err)
	}
	return p, nil
}

// Remove removes the volume's directory and everything in it.
func (d *Dir) Remove(_ context.Context, name string) error {
	if err := os.RemoveAll(filepath.Join(d.Root, name)); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	return nil
}

// ZFS is the "zfs" driver: a volume is a dataset of its own under the zfs
// snapshotter's parent dataset, with a quota from the size option.
type ZFS struct {
	Volumes *zfs.Volumes
}

// Name is "zfs".
func (z *ZFS) Name() string { return "zfs" }

// CheckOptions accepts size=SIZE (zfs.ParseSize's forms, as --storage-opt).
func (z *ZFS) CheckOptions(opts map[string]string) error {
	if err := unknownOptions(z.Name(), opts, "size"); err != nil {
		return err
	}
	if v, ok := opts["size"]; ok {
		if _, err := zfs.ParseSize(v); err != nil {
			return fmt.Errorf("--opt size=%s: %w", v, err)
		}
	}
	return nil
}

// Create makes the volume's dataset with its quota.
func (z *ZFS) Create(ctx context.Context, name string, opts map[string]string) (string, error) {
	var quota uint64
	if v, ok := opts["size"]; ok {
		q, err := zfs.ParseSize(v)
		if err != nil {
			return "", fmt.Errorf("--opt size=%s: %w", v, err)
		}
		quota = q
	}
	return z.Volumes.Create(ctx, name, quota)
}

// Remove destroys the volume's dataset and its snapshots.
func (z *ZFS) Remove(ctx context.Context, name string) error { return z.Volumes.Remove(ctx, name) }
