package volume

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/image/archive"
	"github.com/stockade/stockade/metadata"
)

// Mount is one volume mounted in a container.
type Mount struct {
	// Name is the volume's name (generated for an anonymous volume).
	Name string `json:"name"`
	// Destination is the absolute, clean path in the container.
	Destination string `json:"destination"`
	ReadOnly    bool   `json:"readOnly,omitempty"`
	// Anonymous marks a volume made for this container alone: an image's
	// VOLUME path, or a -v with a destination only.
	Anonymous bool `json:"anonymous,omitempty"`
	// Source is the volume's host directory, set when the container is
	// created.
	Source string `json:"source,omitempty"`
}

// Extension is the volume hook's data in a container record: the command
// line's request (Mounts with Name and Destination), completed by Create.
type Extension struct {
	Mounts []Mount `json:"mounts"`
	// Rootfs is the container's root directory as the spec names it,
	// mounted by the monitor when Prestart fills new volumes from it.
	Rootfs string `json:"rootfs,omitempty"`
	// Made lists the volumes the container's create made, removed again
	// if that create fails.
	Made []string `json:"made,omitempty"`
}

// Request makes the volume hook's request from run's -v values, its
// --tmpfs destinations and the image's VOLUME paths. -v values whose
// source is a path (starting with "/" or ".") are bind mounts, returned
// in binds for the bundle; NAME:DST[:ro|rw] mounts the named volume NAME
// (made on first use); a value of DST alone, and every image VOLUME path
// that no -v or --tmpfs covers, gets an anonymous volume. ext is nil when
// there are no volumes.
func Request(vols, tmpfsDests, imageVolumes []string) (binds []string, ext *Extension, err error) {
	ext = &Extension{}
	taken := map[string]bool{}
	for _, d := range tmpfsDests {
		taken[path.Clean(d)] = true
	}
	for _, s := range vols {
		parts := strings.Split(s, ":")
		if len(parts) >= 2 && (strings.HasPrefix(parts[0], "/") || strings.HasPrefix(parts[0], ".")) {
			binds = append(binds, s)
			taken[path.Clean(parts[1])] = true
			continue
		}
		m, err := parseMount(s)
		if err != nil {
			return nil, nil, err
		}
		if taken[m.Destination] {
			return nil, nil, fmt.Errorf("-v %q: duplicate mount point %s", s, m.Destination)
		}
		taken[m.Destination] = true
		ext.Mounts = append(ext.Mounts, m)
	}
	for _, p := range slices.Sorted(slices.Values(imageVolumes)) {
		d, err := destination(p)
		if err != nil {
			return nil, nil, fmt.Errorf("image VOLUME %q: %w", p, err)
		}
		if taken[d] {
			continue
		}
		taken[d] = true
		ext.Mounts = append(ext.Mounts, Mount{Destination: d, Anonymous: true})
	}
	for i := range ext.Mounts {
		if ext.Mounts[i].Anonymous {
			if ext.Mounts[i].Name, err = NewAnonymousName(); err != nil {
				return nil, nil, err
			}
		}
	}
	if len(ext.Mounts) == 0 {
		return binds, nil, nil
	}
	return binds, ext, nil
}

// parseMount parses NAME:DST[:ro|rw] or DST.
func parseMount(s string) (Mount, error) {
	parts := strings.Split(s, ":")
	var m Mount
	var mode string
	switch len(parts) {
	case 1:
		m.Anonymous = true
		if !strings.HasPrefix(parts[0], "/") {
			return m, fmt.Errorf("-v %q: want NAME:DST[:ro|rw], SRC:DST[:ro|rw] or an absolute DST", s)
		}
		parts = []string{"", parts[0]}
	case 2:
	case 3:
		mode = parts[2]
	default:
		return m, fmt.Errorf("-v %q: too many fields (want NAME:DST[:ro|rw])", s)
	}
	if !m.Anonymous {
		if parts[0] == "" {
			return m, fmt.Errorf("-v %q: empty source", s)
		}
		if err := ValidateName(parts[0]); err != nil {
			return m, fmt.Errorf("-v %q: %w", s, err)
		}
		m.Name = parts[0]
	}
	d, err := destination(parts[1])
	if err != nil {
		return m, fmt.Errorf("-v %q: destination: %w", s, err)
	}
	m.Destination = d
	if len(parts) == 3 {
		switch mode {
		case "ro":
			m.ReadOnly = true
		case "rw":
		default:
			return m, fmt.Errorf("-v %q: unknown mode %q (want ro or rw)", s, mode)
		}
	}
	return m, nil
}

func destination(p string) (string, error) {
	switch {
	case p == "":
		return "", errors.New("empty path")
	case !path.IsAbs(p):
		return "", fmt.Errorf("%q is not an absolute path", p)
	}
	d := path.Clean(p)
	if d == "/" {
		return "", errors.New("cannot mount over /")
	}
	return d, nil
}

// Manager is the volume engine.Hook: Create makes the volumes a container
// asks for and mounts them in its spec, Prestart fills new volumes from
// the image before the first start, Remove removes a --rm container's
// anonymous volumes.
type Manager struct {
	Store *Store
	// GOOS is the OS the bundles are for (the shape of the mounts).
	GOOS string
	Log  *slog.Logger
}

var _ engine.Hook = (*Manager)(nil)

// Name is HookName.
func (m *Manager) Name() string { return HookName }

func (m *Manager) logger() *slog.Logger {
	if m.Log != nil {
		return m.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Create makes the volumes of the request that do not exist (a named one
// on first use, every anonymous one) and mounts them in the spec. A
// volume being removed, a mount point that another mount holds, or a
// driver error fails the create, and the volumes made here go again.
func (m *Manager) Create(ctx context.Context, c *engine.Container, spec *specs.Spec) (retErr error) {
	var ext Extension
	found, err := c.Extension(HookName, &ext)
	if err != nil || !found || len(ext.Mounts) == 0 {
		return err
	}
	defer func() {
		if retErr != nil {
			m.removeMade(context.WithoutCancel(ctx), c, ext.Made)
			ext.Made = nil
		}
	}()
	// A mount the spec has already (a default one such as /dev, a file
	// of the network's) wins over an image's VOLUME, and is an error for
	// a volume the user asked for.
	ext.Mounts = slices.DeleteFunc(ext.Mounts, func(mt Mount) bool {
		return mt.Anonymous && slices.ContainsFunc(spec.Mounts, func(sm specs.Mount) bool { return sm.Destination == mt.Destination })
	})
	for i := range ext.Mounts {
		mt := &ext.Mounts[i]
		for _, sm := range spec.Mounts {
			if sm.Destination == mt.Destination {
				return fmt.Errorf("-v %s:%s: duplicate mount point %s", mt.Name, mt.Destination, mt.Destination)
			}
		}
		opts := CreateOptions{}
		if mt.Anonymous {
			opts.Anonymous, opts.Container = true, c.ID
		}
		v, made, err := m.Store.Ensure(ctx, mt.Name, opts)
		if err != nil {
			return err
		}
		if made {
			ext.Made = append(ext.Made, v.Name)
		}
		mt.Source = v.Mountpoint
		spec.Mounts = slices.DeleteFunc(spec.Mounts, func(x specs.Mount) bool { return x.Destination == mt.Destination })
		spec.Mounts = append(spec.Mounts, m.specMount(mt))
	}
	// Parents before children, whoever added them.
	slices.SortStableFunc(spec.Mounts, func(a, b specs.Mount) int { return depth(a.Destination) - depth(b.Destination) })
	if spec.Root != nil {
		ext.Rootfs = spec.Root.Path
	}
	return c.SetExtension(HookName, &ext)
}

func depth(p string) int { return strings.Count(path.Clean(p), "/") }

// specMount is a volume's mount in the spec: a bind mount on Linux,
// nullfs on FreeBSD.
func (m *Manager) specMount(mt *Mount) specs.Mount {
	if m.GOOS == "freebsd" {
		sm := specs.Mount{Destination: mt.Destination, Type: "nullfs", Source: mt.Source}
		if mt.ReadOnly {
			sm.Options = []string{"ro"}
		}
		return sm
	}
	opts := []string{"rbind", "rprivate"}
	if mt.ReadOnly {
		opts = append(opts, "ro")
	}
	return specs.Mount{Destination: mt.Destination, Type: "bind", Source: mt.Source, Options: opts}
}

// Prestart fills, before a container's first start, each of its volumes
// that is empty with what the image has at the mount point (docker's
// copy-up): files, directories, links, owners, modes and times, and the
// directory's own owner and mode. The root is mounted by then.
func (m *Manager) Prestart(ctx context.Context, c *engine.Container) error {
	if !c.State.StartedAt.IsZero() {
		return nil
	}
	var ext Extension
	if found, err := c.Extension(HookName, &ext); err != nil || !found || ext.Rootfs == "" {
		return err
	}
	for _, mt := range ext.Mounts {
		if mt.Source == "" {
			continue
		}
		if err := CopyUp(ctx, ext.Rootfs, mt.Destination, mt.Source); err != nil {
			return fmt.Errorf("volume %s at %s: fill from the image: %w", mt.Name, mt.Destination, err)
		}
	}
	return nil
}

// CopyUp copies what the directory dest of the root file system rootfs
// holds into the volume directory dir, when dir is empty and dest is a
// directory (resolved inside rootfs); otherwise it does nothing.
func CopyUp(ctx context.Context, rootfs, dest, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return nil
	}
	fi, err := engine.StatInRoot(rootfs, dest, true)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return nil
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(engine.WriteArchive(ctx, pw, rootfs, dest, engine.ArchiveOptions{FollowLink: true, Name: "."}))
	}()
	_, err = archive.Apply(ctx, dir, pr, archive.Options{})
	pr.CloseWithError(errors.New("copy-up stopped"))
	return err
}

// Created does nothing.
func (m *Manager) Created(context.Context, *engine.Container, int) error { return nil }

// NeedsCreated reports false: volumes are mounted by the spec.
func (m *Manager) NeedsCreated(*engine.Container) bool { return false }

// Started does nothing.
func (m *Manager) Started(context.Context, *engine.Container, int) {}

// Stopped does nothing: volumes outlive their containers' runs.
func (m *Manager) Stopped(context.Context, *engine.Container) {}

// Remove removes the anonymous volumes of a container removed with --rm,
// and the volumes a create that failed made. Named volumes stay.
func (m *Manager) Remove(ctx context.Context, c *engine.Container) error {
	var ext Extension
	found, err := c.Extension(HookName, &ext)
	if err != nil || !found {
		return err
	}
	if len(ext.Made) > 0 && !m.completed(ctx, c.ID) {
		m.removeMade(ctx, c, ext.Made)
	}
	if c.AutoRemove {
		return m.RemoveAnonymous(ctx, c)
	}
	return nil
}

// completed reports whether the stored record of the container id went
// through the whole create: the engine stores the hooks' data only then.
func (m *Manager) completed(ctx context.Context, id string) bool {
	var rec engine.Container
	err := m.Store.DB.View(ctx, func(tx *bolt.Tx) error {
		return metadata.GetJSON(tx, metadata.BucketContainers, id, &rec)
	})
	if err != nil {
		return false
	}
	var ext Extension
	if _, err := rec.Extension(HookName, &ext); err != nil {
		return false
	}
	return ext.Rootfs != ""
}

// removeMade removes the volumes a failed create made.
func (m *Manager) removeMade(ctx context.Context, c *engine.Container, made []string) {
	for _, name := range made {
		if err := m.Store.Remove(ctx, name, c.ID); err != nil && !errors.Is(err, ErrNotFound) {
			m.logger().Warn("remove a volume of a failed create", "container", c.Name, "volume", name, "error", err)
		}
	}
}

// RemoveAnonymous removes the container's anonymous volumes (rm -v,
// --rm) that no other container uses; named volumes stay.
func (m *Manager) RemoveAnonymous(ctx context.Context, c *engine.Container) error {
	var ext Extension
	if _, err := c.Extension(HookName, &ext); err != nil {
		return err
	}
	var errs []error
	for _, mt := range ext.Mounts {
		if !mt.Anonymous {
			continue
		}
		if err := m.Store.Remove(ctx, mt.Name, c.ID); err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrInUse) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
