package engine

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/ociruntime"
)

// Pause freezes every process of a running container: through the
// runtime's freezer when it is an ociruntime.Pauser (runc), otherwise
// with SIGSTOP to every process of the container (the jail runtime).
// The record says Paused until Unpause, a stop or an exit.
func (e *Engine) Pause(ctx context.Context, ref string) error {
	c, err := e.Get(ctx, ref)
	if err != nil {
		return err
	}
	if c.State.Status != StatusRunning {
		return fmt.Errorf("pause %s: %w", c.Name, ociruntime.ErrNotRunning)
	}
	if c.State.Paused {
		return fmt.Errorf("pause %s: container is already paused", c.Name)
	}
	if p, ok := e.Runtime.(ociruntime.Pauser); ok {
		err = p.Pause(ctx, c.ID)
	} else {
		err = e.Runtime.Kill(ctx, c.ID, syscall.SIGSTOP, true)
	}
	if err != nil {
		return fmt.Errorf("pause %s: %w", c.Name, err)
	}
	if err := e.setState(ctx, c.ID, func(s *State) { s.Paused = true }); err != nil {
		return err
	}
	e.Event(ctx, c, "pause", nil)
	return nil
}

// Unpause thaws a container that Pause froze.
func (e *Engine) Unpause(ctx context.Context, ref string) error {
	c, err := e.Get(ctx, ref)
	if err != nil {
		return err
	}
	if c.State.Status != StatusRunning || !c.State.Paused {
		return fmt.Errorf("unpause %s: container is not paused", c.Name)
	}
	if err := e.resume(ctx, c); err != nil {
		return fmt.Errorf("unpause %s: %w", c.Name, err)
	}
	if err := e.setState(ctx, c.ID, func(s *State) { s.Paused = false }); err != nil {
		return err
	}
	e.Event(ctx, c, "unpause", nil)
	return nil
}

func (e *Engine) resume(ctx context.Context, c *Container) error {
	if p, ok := e.Runtime.(ociruntime.Pauser); ok {
		return p.Resume(ctx, c.ID)
	}
	return e.Runtime.Kill(ctx, c.ID, syscall.SIGCONT, true)
}

// thawForStop resumes a paused container before stop or kill signal it,
// as docker does, so that the signal is handled rather than queued. The
// record's Paused is cleared.
func (e *Engine) thawForStop(ctx context.Context, c *Container) {
	if !c.State.Paused {
		return
	}
	if err := e.resume(ctx, c); err != nil && !errors.Is(err, ociruntime.ErrNotRunning) && !errors.Is(err, ociruntime.ErrNotFound) {
		e.logger().Warn("resume before stop", "container", c.Name, "error", err)
	}
	e.setState(ctx, c.ID, func(s *State) { s.Paused = false })
	c.State.Paused = false
}

// reapChild waits for the child pid to end, retrying on EINTR; a child
// already reaped elsewhere is no error.
func reapChild(pid int) {
	for {
		_, err := unix.Wait4(pid, nil, 0, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}
