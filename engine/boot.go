package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Boot starts, oldest first, the containers whose restart policy asks to
// come back with the host (the rc.d service's start). It returns the
// names it started and every failure joined.
func (e *Engine) Boot(ctx context.Context) ([]string, error) {
	all, err := e.records(ctx)
	if err != nil {
		return nil, err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Created.Before(all[j].Created) })
	var started []string
	var errs []error
	for _, c := range all {
		wasRunning := c.State.Running() || c.State.RunningAtShutdown
		e.reconcile(ctx, c)
		if c.State.Running() {
			continue // still running: nothing to bring back
		}
		// The record's running status is stale after a reboot: write the
		// truth before deciding.
		e.setState(ctx, c.ID, func(s *State) {
			*s = c.State
			s.RunningAtShutdown = false
		})
		if !c.Restart.RestartOnBoot(wasRunning, c.State.StoppedByUser) {
			continue
		}
		if _, err := e.Start(ctx, c.ID, false); err != nil {
			errs = append(errs, err)
			continue
		}
		started = append(started, c.Name)
	}
	return started, errors.Join(errs...)
}

// Shutdown stops every running container, newest first, and marks them so
// that Boot brings back those whose policy asks for it (the rc.d
// service's stop).
func (e *Engine) Shutdown(ctx context.Context, timeout time.Duration) ([]string, error) {
	all, err := e.List(ctx)
	if err != nil {
		return nil, err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Created.After(all[j].Created) })
	var stopped []string
	var errs []error
	for _, c := range all {
		if !c.State.Running() {
			continue
		}
		userStopped := c.State.StoppedByUser
		if err := e.Stop(ctx, c.ID, timeout); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := e.setState(ctx, c.ID, func(s *State) {
			s.StoppedByUser = userStopped
			s.RunningAtShutdown = true
		}); err != nil {
			errs = append(errs, fmt.Errorf("shutdown %s: %w", c.Name, err))
			continue
		}
		stopped = append(stopped, c.Name)
	}
	return stopped, errors.Join(errs...)
}
