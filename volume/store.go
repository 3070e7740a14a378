package volume

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/metadata"
)

// Store keeps the volume records in the metadata store and makes their
// storage with its Driver. Which containers use a volume is read from
// the container records (their volume extension), so it can never
// disagree with them.
type Store struct {
	DB     *metadata.DB
	Driver Driver
}

// CreateOptions are the options of Create.
type CreateOptions struct {
	Labels  map[string]string
	Options map[string]string
	// Anonymous and Container mark a volume made for a container.
	Anonymous bool
	Container string
}

// Create makes the volume name: its record, then its storage. It fails
// with ErrExists when the name is taken, and leaves nothing on failure.
func (s *Store) Create(ctx context.Context, name string, opts CreateOptions) (*Volume, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if err := s.Driver.CheckOptions(opts.Options); err != nil {
		return nil, err
	}
	v := &Volume{Name: name, Driver: s.Driver.Name(), CreatedAt: time.Now().UTC(), Labels: opts.Labels,
		Options: opts.Options, Anonymous: opts.Anonymous, Container: opts.Container, Removing: true}
	if len(v.Labels) == 0 {
		v.Labels = nil
	}
	if len(v.Options) == 0 {
		v.Options = nil
	}
	// The record is made first, marked as not usable, to reserve the name.
	err := s.DB.Update(ctx, func(tx *bolt.Tx) error {
		var old Volume
		if err := metadata.GetJSON(tx, metadata.BucketVolumes, name, &old); err == nil {
			return fmt.Errorf("volume %s: %w", name, ErrExists)
		}
		return metadata.PutJSON(tx, metadata.BucketVolumes, name, v)
	})
	if err != nil {
		return nil, err
	}
	mp, err := s.Driver.Create(ctx, name, opts.Options)
	if err == nil {
		v.Mountpoint, v.Removing = mp, false
		err = s.DB.Update(ctx, func(tx *bolt.Tx) error { return metadata.PutJSON(tx, metadata.BucketVolumes, name, v) })
	}
	if err != nil {
		ctx := context.WithoutCancel(ctx)
		s.Driver.Remove(ctx, name)
		s.DB.Update(ctx, func(tx *bolt.Tx) error { return metadata.Delete(tx, metadata.BucketVolumes, name) })
		return nil, fmt.Errorf("create volume %s: %w", name, err)
	}
	return v, nil
}

// Get returns the volume name.
func (s *Store) Get(ctx context.Context, name string) (*Volume, error) {
	var v Volume
	err := s.DB.View(ctx, func(tx *bolt.Tx) error { return metadata.GetJSON(tx, metadata.BucketVolumes, name, &v) })
	if errors.Is(err, metadata.ErrNotFound) {
		return nil, fmt.Errorf("volume %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// Ensure returns the volume name, creating it when it does not exist
// (-v NAME:/path makes a volume on first use); made reports whether it
// did.
func (s *Store) Ensure(ctx context.Context, name string, opts CreateOptions) (v *Volume, made bool, err error) {
	for range 3 {
		v, err = s.Get(ctx, name)
		if err == nil {
			if v.Removing {
				return nil, false, fmt.Errorf("volume %s: being removed (or its creation failed half-way: remove it)", name)
			}
			return v, false, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, false, err
		}
		v, err = s.Create(ctx, name, opts)
		if err == nil {
			return v, true, nil
		}
		if !errors.Is(err, ErrExists) {
			return nil, false, err
		}
	}
	return nil, false, err
}

// List returns every volume, by name.
func (s *Store) List(ctx context.Context) ([]*Volume, error) {
	var out []*Volume
	err := s.DB.View(ctx, func(tx *bolt.Tx) error {
		return metadata.ForEachJSON(tx, metadata.BucketVolumes, func(_ string, v *Volume) error {
			out = append(out, v)
			return nil
		})
	})
	return out, err
}

// users returns, for each volume name, the names of the containers that
// use it: those whose volume extension mounts it, and the container an
// anonymous volume was made for while it exists. except is left out.
func users(tx *bolt.Tx, except string) (map[string][]string, error) {
	out := map[string][]string{}
	err := metadata.ForEachJSON(tx, metadata.BucketContainers, func(id string, c *engine.Container) error {
		if id == except {
			return nil
		}
		var ext Extension
		if _, err := c.Extension(HookName, &ext); err != nil {
			return err
		}
		for _, m := range ext.Mounts {
			if !slices.Contains(out[m.Name], c.Name) {
				out[m.Name] = append(out[m.Name], c.Name)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = metadata.ForEachJSON(tx, metadata.BucketVolumes, func(name string, v *Volume) error {
		if v.Container == "" || v.Container == except {
			return nil
		}
		var c engine.Container
		if err := metadata.GetJSON(tx, metadata.BucketContainers, v.Container, &c); err == nil && !slices.Contains(out[name], c.Name) {
			out[name] = append(out[name], c.Name)
		}
		return nil
	})
	return out, err
}

// Users returns, for each volume in use, the names of its containers.
func (s *Store) Users(ctx context.Context) (map[string][]string, error) {
	var out map[string][]string
	err := s.DB.View(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = users(tx, "")
		return err
	})
	return out, err
}

// Remove removes the volume name, its record and its files. A volume in
// use is refused with ErrInUse, naming its containers; except is a
// container not to count (the one being removed).
func (s *Store) Remove(ctx context.Context, name, except string) error {
	err := s.DB.Update(ctx, func(tx *bolt.Tx) error {
		var v Volume
		if err := metadata.GetJSON(tx, metadata.BucketVolumes, name, &v); err != nil {
			if errors.Is(err, metadata.ErrNotFound) {
				return fmt.Errorf("volume %s: %w", name, ErrNotFound)
			}
			return err
		}
		u, err := users(tx, except)
		if err != nil {
			return err
		}
		if names := u[name]; len(names) > 0 {
			slices.Sort(names)
			return fmt.Errorf("volume %s: %w by %s", name, ErrInUse, strings.Join(names, ", "))
		}
		v.Removing = true
		return metadata.PutJSON(tx, metadata.BucketVolumes, name, &v)
	})
	if err != nil {
		return err
	}
	if err := s.Driver.Remove(ctx, name); err != nil {
		return err
	}
	return s.DB.Update(ctx, func(tx *bolt.Tx) error { return metadata.Delete(tx, metadata.BucketVolumes, name) })
}

// Prune removes every volume no container uses and returns their names.
func (s *Store) Prune(ctx context.Context) ([]string, error) {
	all, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.Users(ctx)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, v := range all {
		if len(u[v.Name]) > 0 {
			continue
		}
		if err := s.Remove(ctx, v.Name, ""); err != nil {
			if !errors.Is(err, ErrInUse) && !errors.Is(err, ErrNotFound) {
				errs = append(errs, err)
			}
			continue
		}
		removed = append(removed, v.Name)
	}
	return removed, errors.Join(errs...)
}
