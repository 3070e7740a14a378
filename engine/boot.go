package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/metadata"
)

// BootOptions are the options of Boot.
type BootOptions struct {
	// Parallel is how many containers start at once; below 1 means 1.
	Parallel int
	// ReadyTimeout bounds the wait, after a container with dependents
	// started, for it to be ready (dependencyReady: running, and healthy
	// when it has a health check); 0 means five minutes.
	ReadyTimeout time.Duration
}

// Boot starts the containers whose restart policy asks to come back with
// the host (the rc.d service's start): in dependency order, then by boot
// priority (lower first), then oldest first, up to opts.Parallel at once,
// each only once every container it depends on is ready. A container
// whose dependency did not start, or is neither running nor brought back
// by its own policy, is not started. It returns the names it started, in
// the order they came up, and every failure joined.
func (e *Engine) Boot(ctx context.Context, opts BootOptions) ([]string, error) {
	all, err := e.records(ctx)
	if err != nil {
		return nil, err
	}
	plan, err := PlanBoot(bootNodes(all))
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	// Decide who comes back; the rest only matter as dependencies.
	var todo []int
	boots := make([]bool, len(all))
	for i, c := range all {
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
		if c.Restart.RestartOnBoot(wasRunning, c.State.StoppedByUser) {
			boots[i] = true
			todo = append(todo, i)
		}
	}
	hasDependents := make([]bool, len(all))
	// The subgraph of what boots: its own ranks and dependencies.
	local := make(map[int]int, len(todo))
	for k, i := range todo {
		local[i] = k
	}
	rank := make([]int, len(todo))
	after := make([][]int, len(todo))
	for k, i := range todo {
		rank[k] = plan.Rank[i]
		for _, d := range plan.After[i] {
			hasDependents[d] = true
			if boots[d] {
				after[k] = append(after[k], local[d])
			}
		}
	}
	readyTimeout := opts.ReadyTimeout
	if readyTimeout <= 0 {
		readyTimeout = 5 * time.Minute
	}
	var mu sync.Mutex
	var started []string
	errs := runOrdered(ctx, rank, after, opts.Parallel, true, func(ctx context.Context, k int) error {
		c := all[todo[k]]
		for _, d := range plan.After[todo[k]] {
			if boots[d] {
				continue
			}
			if dc, err := e.Get(ctx, all[d].ID); err != nil || !dependencyReady(dc) {
				return fmt.Errorf("boot %s: it depends on %s, which is not running and does not start at boot", c.Name, all[d].Name)
			}
		}
		if _, err := e.Start(ctx, c.ID, false); err != nil {
			return err
		}
		mu.Lock()
		started = append(started, c.Name)
		mu.Unlock()
		if hasDependents[todo[k]] {
			return e.waitReady(ctx, c, readyTimeout)
		}
		return nil
	})
	var joined []error
	for _, err := range errs {
		var de *DependencyError
		if errors.As(err, &de) {
			err = fmt.Errorf("boot %s: not started: it depends on %s, which did not start", all[todo[de.Node]].Name, all[todo[de.Dep]].Name)
		}
		if err != nil {
			joined = append(joined, err)
		}
	}
	return started, errors.Join(joined...)
}

// waitReady polls c's record until dependencyReady says so, the container
// stops for good, the timeout passes or ctx ends.
func (e *Engine) waitReady(ctx context.Context, c *Container, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		cur, err := e.Get(ctx, c.ID)
		if err != nil {
			return err
		}
		if dependencyReady(cur) {
			return nil
		}
		if !cur.State.Running() {
			return fmt.Errorf("boot %s: started, then %s before what depends on it could start", c.Name, cur.State.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("boot %s: started but not ready after %s (%s)", c.Name, timeout, cur.State.Status)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ShutdownOptions are the options of Shutdown.
type ShutdownOptions struct {
	// Parallel is how many containers stop at once; below 1 means 1.
	Parallel int
	// Timeout is how long a container gets to stop before SIGKILL, unless
	// its record says otherwise.
	Timeout time.Duration
}

// Shutdown stops every running container in the reverse of boot order (a
// container stops only after everything that depends on it has), up to
// opts.Parallel at once, each with its stop signal and timeout, and marks
// them so that Boot brings back those whose policy asks for it (the rc.d
// service's stop). A container that failed to stop does not hold back
// what it depends on. It returns the names it stopped, in the order they
// stopped, and every failure joined.
func (e *Engine) Shutdown(ctx context.Context, opts ShutdownOptions) ([]string, error) {
	all, err := e.List(ctx)
	if err != nil {
		return nil, err
	}
	plan, err := PlanBoot(bootNodes(all))
	if err != nil {
		return nil, fmt.Errorf("shutdown: %w", err)
	}
	var todo []int
	local := make(map[int]int)
	for i, c := range all {
		if c.State.Running() {
			local[i] = len(todo)
			todo = append(todo, i)
		}
	}
	// Reversed: a running container waits for its running dependents.
	rank := make([]int, len(todo))
	after := make([][]int, len(todo))
	for k, i := range todo {
		rank[k] = len(all) - plan.Rank[i]
		for _, d := range plan.After[i] {
			if kd, ok := local[d]; ok {
				after[kd] = append(after[kd], k)
			}
		}
	}
	var mu sync.Mutex
	var stopped []string
	errs := runOrdered(ctx, rank, after, opts.Parallel, false, func(ctx context.Context, k int) error {
		c := all[todo[k]]
		userStopped := c.State.StoppedByUser
		if err := e.Stop(ctx, c.ID, stopTimeout(c, opts.Timeout)); err != nil {
			return err
		}
		if err := e.setState(ctx, c.ID, func(s *State) {
			s.StoppedByUser = userStopped
			s.RunningAtShutdown = true
		}); err != nil {
			return fmt.Errorf("shutdown %s: %w", c.Name, err)
		}
		mu.Lock()
		stopped = append(stopped, c.Name)
		mu.Unlock()
		return nil
	})
	return stopped, errors.Join(errs...)
}

// UpdateOptions are the changes of Update; nil fields stay as they are.
type UpdateOptions struct {
	// Priority is the new boot priority.
	Priority *int
	// DependsOn, when not nil, replaces the dependencies (references as
	// the user typed them; empty clears them).
	DependsOn []string
	// Restart is the new restart policy.
	Restart *RestartPolicy
}

// Update changes the boot order and restart policy of the containers refs
// name, all in one transaction: an unknown container or dependency, or a
// dependency cycle, changes nothing. It returns the updated records.
func (e *Engine) Update(ctx context.Context, refs []string, opts UpdateOptions) ([]*Container, error) {
	var out []*Container
	err := e.DB.Update(ctx, func(tx *bolt.Tx) error {
		all, err := loadAll(tx)
		if err != nil {
			return err
		}
		for _, ref := range refs {
			c, err := Resolve(all, ref)
			if err != nil {
				return err
			}
			if opts.Priority != nil {
				p := *opts.Priority
				c.Priority = &p
			}
			if opts.DependsOn != nil {
				ids, err := resolveDependencies(all, c.ID, opts.DependsOn)
				if err != nil {
					return fmt.Errorf("update %s: %w", c.Name, err)
				}
				c.DependsOn = ids
			}
			if opts.Restart != nil {
				if opts.Restart.Name != "no" && c.AutoRemove {
					return fmt.Errorf("update %s: --restart %s: the container was made with --rm", c.Name, opts.Restart)
				}
				c.Restart = *opts.Restart
			}
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
		if _, err := PlanBoot(bootNodes(all)); err != nil {
			return fmt.Errorf("update: --depends-on: %w", err)
		}
		for _, c := range out {
			if err := metadata.PutJSON(tx, metadata.BucketContainers, c.ID, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// declareBootOrder resolves the boot order of a container being created
// into its record, against all the other records: an unknown dependency
// is an error naming it (and not the container, whose name may be
// generated). A new container cannot close a cycle, as nothing depends on
// it yet, except by depending on itself.
func declareBootOrder(all []*Container, c *Container, want BootOrder) error {
	ids, err := resolveDependencies(all, c.ID, want.DependsOn)
	if err != nil {
		return err
	}
	c.BootOrder = BootOrder{Priority: want.Priority, DependsOn: ids}
	return nil
}
