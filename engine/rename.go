package engine

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/metadata"
)

// Rename gives the container ref the name newName, in one transaction
// that also checks the name is free.
func (e *Engine) Rename(ctx context.Context, ref, newName string) error {
	if err := ValidateName(newName); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	var renamed Container
	var old string
	err := e.DB.Update(ctx, func(tx *bolt.Tx) error {
		all, err := loadAll(tx)
		if err != nil {
			return err
		}
		c, err := Resolve(all, ref)
		if err != nil {
			return err
		}
		if c.Name == newName {
			return fmt.Errorf("rename %s: the container already has that name", c.Name)
		}
		if err := reserveName(tx, newName, c.ID); err != nil {
			return fmt.Errorf("rename %s: %w", c.Name, err)
		}
		if err := releaseName(tx, c.Name, c.ID); err != nil {
			return err
		}
		old = c.Name
		c.Name = newName
		renamed = *c
		return metadata.PutJSON(tx, metadata.BucketContainers, c.ID, c)
	})
	if err != nil {
		return err
	}
	e.Event(ctx, &renamed, "rename", map[string]string{"oldName": old})
	return nil
}
