package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Hook is a subsystem that takes part in every container's lifecycle: the
// network layer and NRI are hooks. The engine calls the hooks of
// Engine.Hooks in order at each point below, and in reverse order for
// Stopped and Remove.
//
// A hook keeps what it needs between calls in the container record, in
// c.Extensions[hook.Name()]: the command line puts the hook's request there
// (for example the network options of `run`), and Create may replace it
// with what it made (the addresses it leased). The engine stores the
// record after Create.
type Hook interface {
	// Name is the hook's name in errors and its key in Container.Extensions.
	Name() string
	// Create runs when a container is created, after its spec is generated
	// and before the bundle is written: the hook may change the spec and
	// reserve resources. An error aborts the create; Remove then runs for
	// every hook, this one included.
	Create(ctx context.Context, c *Container, spec *specs.Spec) error
	// Prestart runs in the monitor before every runtime create, the first
	// start and each restart. An error fails the start; Stopped then runs.
	Prestart(ctx context.Context, c *Container) error
	// Created runs after the runtime created the container and before its
	// process starts; pid is that process, waiting (a host pid). An error
	// kills and deletes the process and fails the start; Stopped then runs.
	Created(ctx context.Context, c *Container, pid int) error
	// Started runs once the process started; errors are the hook's to log.
	Started(ctx context.Context, c *Container, pid int)
	// Stopped runs after the process exited (on its own or killed) and the
	// runtime deleted it, and after a start that failed past Prestart.
	Stopped(ctx context.Context, c *Container)
	// Remove runs when the container's record goes (rm, --rm, a create
	// that failed). It must be idempotent: it may run after a crash left
	// only part of what Create made.
	Remove(ctx context.Context, c *Container) error
}

// HookChecker is a Hook that can find and repair its own leftovers (for
// example interfaces, rules or leases of containers that no longer exist).
// `system check` calls it with every container record, reconciled: a
// container counts as running while its monitor lives, also when the
// monitor is still starting it.
type HookChecker interface {
	Check(ctx context.Context, containers []*Container, repair bool) ([]Problem, error)
}

// CreatedHook is a Hook that tells whether its Created must run for a
// container. When no hook needs it, the monitor creates and starts the
// process in one runtime call (ociruntime.Runner: `runc run --detach`),
// one runtime process fewer per start. A hook that does not implement
// CreatedHook is taken to need Created; a hook that embeds NopHook and
// overrides Created must override NeedsCreated too.
type CreatedHook interface {
	NeedsCreated(c *Container) bool
}

// NopHook implements every method of Hook as doing nothing; a hook embeds
// it and overrides the points it cares about.
type NopHook struct{}

// NeedsCreated reports false: NopHook's Created does nothing.
func (NopHook) NeedsCreated(*Container) bool { return false }

func (NopHook) Prestart(context.Context, *Container) error            { return nil }
func (NopHook) Created(context.Context, *Container, int) error        { return nil }
func (NopHook) Started(context.Context, *Container, int)              {}
func (NopHook) Stopped(context.Context, *Container)                   {}
func (NopHook) Remove(context.Context, *Container) error              { return nil }
func (NopHook) Create(context.Context, *Container, *specs.Spec) error { return nil }

// Extension decodes c.Extensions[name] into v. It reports false when the
// container has no such extension.
func (c *Container) Extension(name string, v any) (bool, error) {
	raw, ok := c.Extensions[name]
	if !ok || len(raw) == 0 {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("container %s: extension %s: %w", c.Name, name, err)
	}
	return true, nil
}

// SetExtension stores v as c.Extensions[name] (in memory; the engine
// writes the record after Create, and UpdateExtension writes it later).
func (c *Container) SetExtension(name string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("container %s: extension %s: %w", c.Name, name, err)
	}
	if c.Extensions == nil {
		c.Extensions = map[string]json.RawMessage{}
	}
	c.Extensions[name] = raw
	return nil
}

// UpdateExtension stores v as the extension name of the container id in
// the metadata store.
func (e *Engine) UpdateExtension(ctx context.Context, id, name string, v any) error {
	_, err := e.update(ctx, id, func(rec *Container) error { return rec.SetExtension(name, v) })
	return err
}

// hooksCreate runs Create of every hook and stops at the first error (the
// caller's rollback, destroy, runs every hook's Remove).
func (e *Engine) hooksCreate(ctx context.Context, c *Container, spec *specs.Spec) error {
	for _, h := range e.Hooks {
		if err := h.Create(ctx, c, spec); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) hooksPrestart(ctx context.Context, c *Container) error {
	for _, h := range e.Hooks {
		if err := h.Prestart(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) hooksCreated(ctx context.Context, c *Container, pid int) error {
	for _, h := range e.Hooks {
		if err := h.Created(ctx, c, pid); err != nil {
			return err
		}
	}
	return nil
}

// needsCreated tells whether some hook must run between the runtime's
// create and start of c (see CreatedHook).
func (e *Engine) needsCreated(c *Container) bool {
	for _, h := range e.Hooks {
		ch, ok := h.(CreatedHook)
		if !ok || ch.NeedsCreated(c) {
			return true
		}
	}
	return false
}

func (e *Engine) hooksStarted(ctx context.Context, c *Container, pid int) {
	for _, h := range e.Hooks {
		h.Started(ctx, c, pid)
	}
}

func (e *Engine) hooksStopped(ctx context.Context, c *Container) {
	for i := len(e.Hooks) - 1; i >= 0; i-- {
		e.Hooks[i].Stopped(ctx, c)
	}
}

func (e *Engine) hooksRemove(ctx context.Context, c *Container) error {
	var errs []error
	for i := len(e.Hooks) - 1; i >= 0; i-- {
		if err := e.Hooks[i].Remove(ctx, c); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.Hooks[i].Name(), err))
		}
	}
	return errors.Join(errs...)
}
