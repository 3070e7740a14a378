package zfs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/stockade/stockade/snapshot"
)

// ProblemKind names a kind of inconsistency that Check finds.
type ProblemKind string

// The problems Check knows. Each one's doc tells how it arises and what
// Check's repair does.
const (
	// ProblemInterruptedCommit: an active snapshot has an @layer snapshot,
	// left by a Commit that stopped before renaming the dataset. The
	// snapshot is still active. Repair destroys the stale @layer snapshot
	// and sets canmount=on again.
	ProblemInterruptedCommit ProblemKind = "interrupted-commit"
	// ProblemUnfinishedCommit: a committed layer's dataset does not carry
	// the record of its @layer snapshot (a Commit stopped after the rename,
	// or the properties were edited), or it is still canmount=on. Repair
	// copies the record and sets canmount=noauto.
	ProblemUnfinishedCommit ProblemKind = "unfinished-commit"
	// ProblemLayerWithoutRecord: a dataset under layers with stockade
	// properties but no usable @layer snapshot (destroyed or stripped by
	// hand). Nothing can be built on it. Repair destroys it when nothing
	// is cloned from it.
	ProblemLayerWithoutRecord ProblemKind = "layer-without-record"
	// ProblemAbandoned: an active snapshot or view not marked with
	// LabelContainer and unchanged for longer than Config.StaleAfter, as
	// a process that crashed between Prepare and Commit leaves. Repair
	// destroys it.
	ProblemAbandoned ProblemKind = "abandoned"
	// ProblemOrphanClone: a snapshot's recorded parent is not the layer its
	// dataset is cloned from: the parent record is gone or names another
	// layer. When the origin is a stockade layer, repair records that layer
	// as the parent (the data is the truth); otherwise it destroys views and
	// leaves active and committed snapshots to an administrator.
	ProblemOrphanClone ProblemKind = "orphan-clone"
	// ProblemMisnamed: a record whose dataset is not where its key says
	// (renamed by hand), so that lookups by key miss it. Repair renames it
	// back when the right name is free.
	ProblemMisnamed ProblemKind = "misnamed"
	// ProblemBadRecord: stockade properties that cannot be read, or a kind
	// that does not match the dataset's place. Views are destroyed; other
	// datasets are left to an administrator.
	ProblemBadRecord ProblemKind = "bad-record"
	// ProblemDuplicateKey: two records claim the same key. Left to an
	// administrator.
	ProblemDuplicateKey ProblemKind = "duplicate-key"
	// ProblemForeign: a dataset under layers, active or views without any
	// stockade property. Not stockade's; reported, never touched.
	ProblemForeign ProblemKind = "foreign"
)

// Problem is one inconsistency found by Check.
type Problem struct {
	// Kind tells what is wrong.
	Kind ProblemKind `json:"kind"`
	// Dataset is the dataset or snapshot concerned.
	Dataset string `json:"dataset"`
	// Key is the snapshot key, when one is known.
	Key string `json:"key,omitempty"`
	// Detail explains the problem.
	Detail string `json:"detail"`
	// Repair describes what a repair does, as zfs commands; empty when
	// the problem needs an administrator.
	Repair string `json:"repair,omitempty"`
	// Repaired is true once a repair has succeeded.
	Repaired bool `json:"repaired,omitempty"`
	// Err is why a repair failed.
	Err error `json:"-"`

	steps []step
	order int
}

// String renders the problem on one line.
func (p Problem) String() string {
	s := fmt.Sprintf("%s: %s: %s", p.Kind, p.Dataset, p.Detail)
	switch {
	case p.Repaired:
		s += " (repaired: " + p.Repair + ")"
	case p.Err != nil:
		s += " (repair failed: " + p.Err.Error() + ")"
	case p.Repair != "":
		s += " (repair: " + p.Repair + ")"
	default:
		s += " (needs an administrator)"
	}
	return s
}

// step is one zfs command of a repair.
type step struct {
	args []string
}

func (s step) String() string { return "zfs " + strings.Join(s.args, " ") }

func destroyStep(name string, recursive bool) step {
	if recursive {
		return step{[]string{"destroy", "-r", name}}
	}
	return step{[]string{"destroy", name}}
}

// mirrorSteps returns the commands that make the local stockade
// properties of name equal want: one `zfs set` and a `zfs inherit` for
// each property name has and want lacks.
func mirrorSteps(name string, want [][2]string, have map[string]string) []step {
	set := []string{"set"}
	wanted := map[string]bool{}
	for _, p := range want {
		wanted[p[0]] = true
		set = append(set, p[0]+"="+p[1])
	}
	steps := []step{{append(set, name)}}
	for _, p := range slices.Sorted(maps.Keys(have)) {
		if strings.HasPrefix(p, "stockade:") && !wanted[p] {
			steps = append(steps, step{[]string{"inherit", p, name}})
		}
	}
	return steps
}

func runSteps(ctx context.Context, steps []step) error {
	for _, s := range steps {
		if _, err := zfsRun(ctx, s.args...); err != nil {
			return err
		}
	}
	return nil
}

// Check looks for what crashes and hand edits leave under the parent
// dataset (see the Problem kinds) and, when repair is true, repairs what
// can be repaired safely. It holds the lock for its whole run, so it is
// safe to run while other processes use the snapshotter. The error
// reports a failure to look, or the repairs that failed (each problem's
// Err tells which).
func (z *Snapshotter) Check(ctx context.Context, repair bool) ([]Problem, error) {
	unlock, err := z.lock(ctx)
	if err != nil {
		return nil, fmt.Errorf("zfs: check %s: %w", z.dataset, err)
	}
	defer unlock()
	states, err := getProps(ctx, true, z.group(groupLayers), z.group(groupActive), z.group(groupViews))
	if err != nil {
		return nil, fmt.Errorf("zfs: check %s: %w", z.dataset, err)
	}
	problems := z.classify(states, time.Now(), z.staleAfter)
	if !repair {
		return problems, nil
	}
	var errs []error
	for i := range problems {
		p := &problems[i]
		if len(p.steps) == 0 {
			continue
		}
		if err := runSteps(ctx, p.steps); err != nil {
			p.Err = err
			errs = append(errs, fmt.Errorf("%s %s: %w", p.Kind, p.Dataset, err))
			continue
		}
		p.Repaired = true
	}
	if err := errors.Join(errs...); err != nil {
		return problems, fmt.Errorf("zfs: repair %s: %w", z.dataset, err)
	}
	return problems, nil
}

// entry is one dataset under a group, with its snapshots.
type entry struct {
	group, comp string
	ds          *dsState
	snaps       map[string]*dsState
}

// classify finds the problems in the states of everything under the
// groups, as read by one recursive `zfs get`. It is a pure function of
// its arguments. Problems come sorted in the order their repairs must run:
// property fixes and renames first, then destroys of leaves, then destroys
// of layers.
func (l layout) classify(states map[string]*dsState, now time.Time, staleAfter time.Duration) []Problem {
	entries := map[string]*entry{}
	var problems []Problem
	for name, st := range states {
		if name == l.group(groupLayers) || name == l.group(groupActive) || name == l.group(groupViews) {
			continue
		}
		g, comp, snap, ok := l.splitName(name)
		if !ok {
			if !strings.Contains(name, "@") && st.hasStockadeProps() {
				problems = append(problems, Problem{Kind: ProblemForeign, Dataset: name,
					Detail: "a dataset nested deeper than stockade makes them"})
			}
			continue
		}
		ds := l.dataset + "/" + g + "/" + comp
		e := entries[ds]
		if e == nil {
			e = &entry{group: g, comp: comp, snaps: map[string]*dsState{}}
			entries[ds] = e
		}
		if snap == "" {
			e.ds = st
		} else {
			e.snaps[snap] = st
		}
	}

	// Records, and the layers that can be origins.
	type rec struct {
		*record
		e      *entry
		holder *dsState
	}
	var recs []rec
	layerBySnap := map[string]*record{}
	owners := map[string][]string{}
	handled := map[string]bool{} // datasets that already have a destroy
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		e := entries[name]
		if e.ds == nil {
			continue // snapshots of a dataset zfs get did not list: cannot happen
		}
		switch e.group {
		case groupLayers:
			ls := e.snaps[layerSnap]
			if ls == nil || !ls.hasStockadeProps() {
				if !e.ds.hasStockadeProps() {
					problems = append(problems, Problem{Kind: ProblemForeign, Dataset: name,
						Detail: "no stockade properties"})
					continue
				}
				detail := "no @" + layerSnap + " snapshot"
				if ls != nil {
					detail = "its @" + layerSnap + " snapshot has no stockade record"
				}
				p := Problem{Kind: ProblemLayerWithoutRecord, Dataset: name, Key: e.ds.user[PropKey], Detail: detail}
				if ls == nil || ls.prop("clones") == "" {
					p.steps, p.order = []step{destroyStep(name, true)}, 2
					handled[name] = true
				} else {
					p.Detail += "; clones depend on it: " + ls.prop("clones")
				}
				problems = append(problems, p)
				continue
			}
			r, err := parseRecord(ls)
			if err == nil && r.Kind != snapshot.KindCommitted {
				err = fmt.Errorf("kind %s in a committed layer's snapshot", r.Kind)
			}
			if err != nil {
				p := Problem{Kind: ProblemBadRecord, Dataset: name + "@" + layerSnap, Key: ls.user[PropKey], Detail: err.Error()}
				problems = append(problems, p)
				continue
			}
			recs = append(recs, rec{r, e, ls})
			layerBySnap[name+"@"+layerSnap] = r
			owners[r.Name] = append(owners[r.Name], name)
		case groupActive, groupViews:
			kind := snapshot.KindActive
			if e.group == groupViews {
				kind = snapshot.KindView
			}
			if !e.ds.hasStockadeProps() {
				problems = append(problems, Problem{Kind: ProblemForeign, Dataset: name, Detail: "no stockade properties"})
				continue
			}
			r, err := parseRecord(e.ds)
			if err == nil && r.Kind != kind {
				err = fmt.Errorf("kind %s under %s", r.Kind, e.group)
			}
			if err != nil {
				p := Problem{Kind: ProblemBadRecord, Dataset: name, Key: e.ds.user[PropKey], Detail: err.Error()}
				if kind == snapshot.KindView {
					p.steps, p.order = []step{destroyStep(name, true)}, 1
					handled[name] = true
				}
				problems = append(problems, p)
				continue
			}
			recs = append(recs, rec{r, e, e.ds})
			owners[r.Name] = append(owners[r.Name], name)
			if ls := e.snaps[layerSnap]; ls != nil && kind == snapshot.KindActive && ls.prop("clones") == "" {
				problems = append(problems, Problem{Kind: ProblemInterruptedCommit, Dataset: name + "@" + layerSnap, Key: r.Name,
					Detail: "a commit stopped before the rename; the snapshot is still active",
					steps:  []step{destroyStep(name+"@"+layerSnap, false), {[]string{"set", "canmount=on", name}}}})
			}
		}
	}

	for _, r := range recs {
		name := l.dataset + "/" + r.e.group + "/" + r.e.comp
		if handled[name] {
			continue
		}
		if len(owners[r.Name]) > 1 {
			problems = append(problems, Problem{Kind: ProblemDuplicateKey, Dataset: name, Key: r.Name,
				Detail: "the key is also claimed by " + strings.Join(slices.DeleteFunc(slices.Clone(owners[r.Name]), func(s string) bool { return s == name }), ", ")})
			continue
		}
		if want := component(r.Name, l.maxComp); want != r.e.comp {
			target := l.dataset + "/" + r.e.group + "/" + want
			p := Problem{Kind: ProblemMisnamed, Dataset: name, Key: r.Name, Detail: "the key's dataset is " + target}
			if _, taken := entries[target]; !taken {
				p.steps = []step{{[]string{"rename", name, target}}}
			} else {
				p.Detail += ", which is taken"
			}
			problems = append(problems, p)
			continue
		}
		// The origin is the truth about the parent.
		recordedParent := r.Parent
		origin := r.e.ds.prop("origin")
		wantParent, known := "", true
		if origin != "" {
			pr := layerBySnap[origin]
			if pr == nil {
				known = false
			} else {
				wantParent = pr.Name
			}
		}
		switch {
		case !known:
			p := Problem{Kind: ProblemOrphanClone, Dataset: name, Key: r.Name,
				Detail: fmt.Sprintf("parent %q is recorded, but the dataset is a clone of %s, which is not a stockade layer", r.Parent, origin)}
			if r.Kind == snapshot.KindView {
				p.steps, p.order = []step{destroyStep(name, true)}, 1
				handled[name] = true
			}
			problems = append(problems, p)
			if handled[name] {
				continue
			}
		case wantParent != r.Parent:
			holders := []string{name}
			if r.Kind == snapshot.KindCommitted {
				holders = []string{name + "@" + layerSnap, name}
			}
			var steps []step
			for _, h := range holders {
				if wantParent == "" {
					steps = append(steps, step{[]string{"inherit", PropParent, h}})
				} else {
					steps = append(steps, step{[]string{"set", PropParent + "=" + wantParent, h}})
				}
			}
			detail := fmt.Sprintf("recorded parent %q is gone; the dataset is a clone of %s (%q)", r.Parent, origin, wantParent)
			if origin == "" {
				detail = fmt.Sprintf("recorded parent %q, but the dataset is not a clone", r.Parent)
			}
			problems = append(problems, Problem{Kind: ProblemOrphanClone, Dataset: name, Key: r.Name, Detail: detail, steps: steps})
			r.Parent = wantParent
		}
		switch r.Kind {
		case snapshot.KindCommitted:
			// Compare with the record as it was: a parent fixed above is
			// fixed on both the snapshot and the dataset.
			was := *r.record
			was.Parent = recordedParent
			recorded, _ := recordProps(&was)
			wm := map[string]string{}
			for _, p := range recorded {
				wm[p[0]] = p[1]
			}
			want, _ := recordProps(r.record)
			stale := r.e.ds.prop("canmount") == "on"
			for _, p := range userProps {
				if r.e.ds.user[p] != wm[p] {
					stale = true
				}
			}
			if stale {
				steps := append(mirrorSteps(name, want, r.e.ds.user), step{[]string{"set", "canmount=noauto", name}})
				problems = append(problems, Problem{Kind: ProblemUnfinishedCommit, Dataset: name, Key: r.Name,
					Detail: "the layer's dataset does not mirror its @" + layerSnap + " record", steps: steps})
			}
		case snapshot.KindActive, snapshot.KindView:
			container := r.container != "" || r.Labels[LabelContainer] != ""
			if age := now.Sub(r.Updated); !container && age > staleAfter {
				problems = append(problems, Problem{Kind: ProblemAbandoned, Dataset: name, Key: r.Name,
					Detail: fmt.Sprintf("%s snapshot unchanged for %s and not a container's root", r.Kind, age.Round(time.Second)),
					steps:  []step{destroyStep(name, true)}, order: 1})
				handled[name] = true
			}
		}
	}
	for i := range problems {
		var s []string
		for _, st := range problems[i].steps {
			s = append(s, st.String())
		}
		problems[i].Repair = strings.Join(s, "; ")
	}
	slices.SortStableFunc(problems, func(a, b Problem) int {
		if a.order != b.order {
			return a.order - b.order
		}
		return strings.Compare(a.Dataset, b.Dataset)
	})
	return problems
}
