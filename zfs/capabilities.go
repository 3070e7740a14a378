package zfs

import (
	"context"

	"github.com/stockade/stockade/snapshot"
)

// The capabilities the zfs snapshotter offers beyond snapshot.Snapshotter.
var (
	_ snapshot.Checker         = (*Snapshotter)(nil)
	_ snapshot.RootSnapshotter = (*Snapshotter)(nil)
	_ snapshot.Quota           = (*Snapshotter)(nil)
)

// CheckSnapshots is Check for callers that know the snapshotter by its
// capabilities (snapshot.Checker): each problem names its dataset and
// starts its issue with the problem's kind.
func (z *Snapshotter) CheckSnapshots(ctx context.Context, repair bool) ([]snapshot.Problem, error) {
	problems, err := z.Check(ctx, repair)
	return genericProblems(problems), err
}

// genericProblems turns Check's problems into snapshot.Problems.
func genericProblems(problems []Problem) []snapshot.Problem {
	var out []snapshot.Problem
	for _, p := range problems {
		out = append(out, snapshot.Problem{
			What:     "dataset " + p.Dataset,
			Issue:    string(p.Kind) + ": " + p.Detail,
			Repaired: p.Repaired,
			Err:      p.Err,
		})
	}
	return out
}

// ParseQuota parses a value of LabelSize as ParseSize does
// (snapshot.Quota).
func (z *Snapshotter) ParseQuota(size string) (uint64, error) { return ParseSize(size) }
