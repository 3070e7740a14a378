package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/stockade/stockade/mount"
	"github.com/stockade/stockade/snapshot"
)

// Problem is one inconsistency found by Check.
type Problem struct {
	// What names the thing: a container, snapshot or directory.
	What string `json:"what"`
	// Issue says what is wrong.
	Issue string `json:"issue"`
	// Repaired tells whether Check fixed it.
	Repaired bool `json:"repaired"`
	// Error is why a repair failed.
	Error string `json:"error,omitempty"`
}

// Check looks for what an interrupted command can leave behind and, when
// repair is set, fixes it: container records that say running without a
// monitor, container roots without a record, run directories without a
// container, stale layer extractions, unreferenced content and what
// crashes left under the snapshotter's root (through the image service's
// garbage collection, which calls a snapshot.Cleaner's Cleanup).
func (e *Engine) Check(ctx context.Context, repair bool) ([]Problem, error) {
	all, err := e.records(ctx)
	if err != nil {
		return nil, err
	}
	var problems []Problem
	add := func(what, issue string, fix func() error) {
		p := Problem{What: what, Issue: issue}
		if repair && fix != nil {
			if err := fix(); err != nil {
				p.Error = err.Error()
			} else {
				p.Repaired = true
			}
		}
		problems = append(problems, p)
	}
	byID := map[string]*Container{}
	byShort := map[string]bool{}
	for _, c := range all {
		byID[c.ID] = c
		byShort[shortID(c.ID)] = true
		recorded := c.State
		e.reconcile(ctx, c)
		if c.State.Status != recorded.Status {
			st := c.State
			add("container "+c.Name, fmt.Sprintf("recorded as %s, but its monitor is gone: it is %s", recorded.Status, st.Status), func() error {
				return e.setState(ctx, c.ID, func(s *State) { *s = st })
			})
		}
		if _, err := e.Snapshotter.Stat(ctx, c.SnapshotKey); errors.Is(err, snapshot.ErrNotFound) {
			add("container "+c.Name, "its root file system "+c.SnapshotKey+" is missing; remove the container with rm -f", nil)
		}
	}
	var orphans []string
	err = e.Snapshotter.Walk(ctx, func(_ context.Context, info snapshot.Info) error {
		if id, ok := strings.CutPrefix(info.Name, "ctr-"); ok && byID[id] == nil {
			orphans = append(orphans, info.Name)
		}
		return nil
	})
	if err != nil {
		return problems, err
	}
	for _, key := range orphans {
		add("snapshot "+key, "container root without a container record", func() error {
			mount.UnmountAll(e.rootfsDir(strings.TrimPrefix(key, "ctr-")))
			return e.Snapshotter.Remove(ctx, key)
		})
	}
	if ents, err := os.ReadDir(e.runRoot()); err == nil {
		for _, ent := range ents {
			short := ent.Name() // run directories are named by short id
			if byShort[short] || monitorAlive(e.lockPath(short)) {
				continue
			}
			dir := e.runDir(short)
			add("directory "+dir, "run-state of a container that no longer exists", func() error {
				mount.UnmountAll(e.rootfsDir(short))
				return os.RemoveAll(dir)
			})
		}
	}
	if ents, err := os.ReadDir(filepath.Join(e.Root, "containers")); err == nil {
		for _, ent := range ents {
			if byID[ent.Name()] == nil {
				dir := filepath.Join(e.Root, "containers", ent.Name())
				add("directory "+dir, "bundle of a container that no longer exists", func() error { return os.RemoveAll(dir) })
			}
		}
	}
	// Hooks find their own leftovers (interfaces, rules, leases) against
	// the reconciled records. A container whose monitor is alive but that
	// is not running yet is being started: its hooks may be attaching it
	// right now, so it counts as running and nothing of it is taken.
	seen := make([]*Container, 0, len(all))
	for _, c := range all {
		if !c.State.Running() && monitorAlive(e.lockPath(c.ID)) {
			cp := *c
			cp.State.Status = StatusRunning
			c = &cp
		}
		seen = append(seen, c)
	}
	for _, h := range e.Hooks {
		hc, ok := h.(HookChecker)
		if !ok {
			continue
		}
		ps, err := hc.Check(ctx, seen, repair)
		problems = append(problems, ps...)
		if err != nil {
			return problems, fmt.Errorf("check %s: %w", h.Name(), err)
		}
	}
	// Image GC (the command line's image.Service has it).
	if gc, ok := e.Images.(interface{ GC(context.Context) error }); repair && ok {
		if err := gc.GC(ctx); err != nil {
			return problems, err
		}
	}
	return problems, nil
}
