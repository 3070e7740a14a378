package engine

import (
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/metadata"
)

// The container-names bucket (metadata.BucketContainerNames) maps each
// container's name to its id: create and rename check and take a name
// with one key, where they decoded every record (n creates cost n²
// decodes). It changes in the transactions that write the records, so it
// cannot disagree with them.

// reserveName takes name for the container id, or fails with
// ErrNameInUse naming the container that has it. A name whose container
// record is gone (a store written before the index was kept exactly) is
// free.
func reserveName(tx *bolt.Tx, name, id string) error {
	b := tx.Bucket([]byte(metadata.BucketContainerNames))
	if b == nil {
		return fmt.Errorf("metadata store: no %s bucket", metadata.BucketContainerNames)
	}
	if other := b.Get([]byte(name)); other != nil && string(other) != id {
		if c := tx.Bucket([]byte(metadata.BucketContainers)); c != nil && c.Get(other) != nil {
			return fmt.Errorf("container name %q: %w by %s", name, ErrNameInUse, shortID(string(other)))
		}
	}
	return b.Put([]byte(name), []byte(id))
}

// releaseName gives up name when it belongs to the container id.
func releaseName(tx *bolt.Tx, name, id string) error {
	b := tx.Bucket([]byte(metadata.BucketContainerNames))
	if b == nil || name == "" {
		return nil
	}
	if string(b.Get([]byte(name))) != id {
		return nil
	}
	return b.Delete([]byte(name))
}
