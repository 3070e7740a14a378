package volume

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/metadata"
)

var _ engine.HookChecker = (*Manager)(nil)

// staleAfter is how old a volume still marked as being made or removed
// must be before Check takes it for a crash's leftover rather than work
// in progress.
const staleAfter = time.Minute

// Check finds volumes a crash left half made or half removed (their
// record still marked) and, with repair, finishes removing them: their
// storage, then their record. Volumes no container uses are not
// problems: they are kept, as docker keeps them, until `volume prune`.
func (m *Manager) Check(ctx context.Context, _ []*engine.Container, repair bool) ([]engine.Problem, error) {
	all, err := m.Store.List(ctx)
	if err != nil {
		return nil, err
	}
	var problems []engine.Problem
	for _, v := range all {
		if !v.Removing || time.Since(v.CreatedAt) < staleAfter {
			continue
		}
		p := engine.Problem{What: "volume " + v.Name, Issue: "half made or half removed (interrupted)"}
		if repair {
			err := m.Store.Driver.Remove(ctx, v.Name)
			if err == nil {
				err = m.Store.DB.Update(ctx, func(tx *bolt.Tx) error {
					return metadata.Delete(tx, metadata.BucketVolumes, v.Name)
				})
			}
			if err != nil {
				p.Error = err.Error()
			} else {
				p.Repaired = true
			}
		}
		problems = append(problems, p)
	}
	return problems, nil
}
