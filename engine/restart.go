package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RestartPolicy says whether the monitor starts a container again after it
// exits, with the names docker uses.
type RestartPolicy struct {
	// Name is "no", "on-failure", "always" or "unless-stopped".
	Name string `json:"name"`
	// MaxRetries bounds on-failure restarts; 0 means no bound.
	MaxRetries int `json:"maxRetries,omitempty"`
}

// ParseRestartPolicy reads no, on-failure[:N], always and unless-stopped.
func ParseRestartPolicy(s string) (RestartPolicy, error) {
	name, count, hasCount := strings.Cut(s, ":")
	p := RestartPolicy{Name: name}
	switch name {
	case "", "no":
		p.Name = "no"
	case "always", "unless-stopped":
	case "on-failure":
		if hasCount {
			n, err := strconv.Atoi(count)
			if err != nil || n < 0 {
				return RestartPolicy{}, fmt.Errorf("--restart %q: the retry count must be a number >= 0", s)
			}
			p.MaxRetries = n
		}
		return p, nil
	default:
		return RestartPolicy{}, fmt.Errorf("--restart %q: not one of no, on-failure[:N], always, unless-stopped", s)
	}
	if hasCount {
		return RestartPolicy{}, fmt.Errorf("--restart %q: only on-failure takes a retry count", s)
	}
	return p, nil
}

// String renders the policy as it is written on the command line.
func (p RestartPolicy) String() string {
	if p.Name == "on-failure" && p.MaxRetries > 0 {
		return fmt.Sprintf("on-failure:%d", p.MaxRetries)
	}
	if p.Name == "" {
		return "no"
	}
	return p.Name
}

// never reports whether the policy restarts nothing ("no", or unset).
func (p RestartPolicy) never() bool { return p.Name == "" || p.Name == "no" }

// endsAtExit reports whether c's loop ends at its process's first exit
// whatever the record says by then: a --rm container without a policy,
// which no update can give it (Update refuses one for a --rm container),
// so no record need be read at its exit to know that it will not restart.
func (c *Container) endsAtExit() bool { return c.AutoRemove && c.Restart.never() }

// ShouldRestart decides, after an exit with exitCode, whether the monitor
// starts the container again. restarts is how many restarts happened so
// far; stopped tells that a user stopped or killed the container, which
// no policy overrides.
func (p RestartPolicy) ShouldRestart(exitCode, restarts int, stopped bool) bool {
	if stopped {
		return false
	}
	switch p.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return exitCode != 0 && (p.MaxRetries == 0 || restarts < p.MaxRetries)
	}
	return false
}

// RestartOnBoot tells whether `stockade boot` starts the container when the
// host comes up: always does, unless-stopped does unless a user stopped it,
// and on-failure does when the container was still running at shutdown.
func (p RestartPolicy) RestartOnBoot(wasRunning, stoppedByUser bool) bool {
	switch p.Name {
	case "always":
		return true
	case "unless-stopped":
		return !stoppedByUser
	case "on-failure":
		return wasRunning && !stoppedByUser
	}
	return false
}

// Backoff is the delay before restart number n (0-based): 100 ms doubling
// up to one minute. A container that ran for longer than ResetAfter
// starts again from the first delay.
func Backoff(n int) time.Duration {
	d := 100 * time.Millisecond
	for i := 0; i < n && d < time.Minute; i++ {
		d *= 2
	}
	if d > time.Minute {
		d = time.Minute
	}
	return d
}

// ResetAfter is how long a container must run for its restart backoff to
// start over.
const ResetAfter = 10 * time.Second

// runner runs a container's process once (create, start, wait) and
// returns its exit code, or the error that kept it from running. The
// monitor's runner is monitorRunner; tests use a fake.
type runner interface {
	runOnce(ctx context.Context, waitAttach bool) (exitCode int, err error)
}

// clock is the restart loop's time: when a run started, and the backoff
// sleeps. The monitor uses realClock; tests use a fake that never sleeps.
type clock interface {
	Now() time.Time
	Sleep(d time.Duration)
}

// realClock is the system's clock.
type realClock struct{}

func (realClock) Now() time.Time        { return time.Now() }
func (realClock) Sleep(d time.Duration) { time.Sleep(d) }

// exitDecider is a runner that records its run's exit itself and can
// record it as restarting, in the same transaction, when the loop will
// restart: a container about to restart is then never seen as exited
// (ps, wait) between its exit and the loop's decision.
type exitDecider interface {
	withRestartDecision(willRestart func(exitCode int, rec *Container) bool) runner
}

// monitorRunner runs the container of a monitor with its log, attach hub
// and start report (run).
type monitorRunner struct {
	e   *Engine
	c   *Container
	run *monitorRun
}

func (m monitorRunner) runOnce(ctx context.Context, waitAttach bool) (int, error) {
	return m.e.runOnce(ctx, m.c, m.run, waitAttach)
}

// withRestartDecision sets what says at the exit whether the loop will
// restart (see exitDecider).
func (m monitorRunner) withRestartDecision(f func(int, *Container) bool) runner {
	m.run.willRestart = f
	return m
}

// loopState is the restart loop's count of restarts and the start of its
// current run. The monitor's handover to the small monitor carries it
// across the two execs, so that the resumed loop decides as the first
// would have (see restartLoopFrom).
type loopState struct {
	restarts int
	started  time.Time
}

// restartLoop runs c through r, and again after each exit for as long as
// its restart policy says, waiting Backoff(n) before restart n (counted
// from 0 again after a run longer than ResetAfter) and giving up when a
// user stops the container meanwhile. Each restart is counted in the
// record's RestartCount. It returns the last exit code and the error that
// kept the container from running, if one did.
func (e *Engine) restartLoop(ctx context.Context, c *Container, r runner, clk clock, waitAttach bool) (exitCode int, runErr error) {
	return e.restartLoopFrom(ctx, c, r, clk, waitAttach, &loopState{})
}

// restartLoopFrom is restartLoop from st: a resumed monitor's loop starts
// with the restarts counted so far and, when st.started is set, with a
// first run that started then (the run the small monitor waited for).
// The loop keeps st current.
func (e *Engine) restartLoopFrom(ctx context.Context, c *Container, r runner, clk clock, waitAttach bool, st *loopState) (exitCode int, runErr error) {
	wait := waitAttach
	// What the loop decides below, asked at the exit by a runner that
	// records it (exitDecider).
	willRestart := func(code int, rec *Container) bool {
		n := st.restarts
		if clk.Now().Sub(st.started) > ResetAfter {
			n = 0
		}
		return rec.Restart.ShouldRestart(code, n, rec.State.StoppedByUser)
	}
	if d, ok := r.(exitDecider); ok {
		r = d.withRestartDecision(willRestart)
	}
	for {
		if st.started.IsZero() {
			st.started = clk.Now()
		}
		exitCode, runErr = r.runOnce(ctx, wait)
		wait = false
		e.hooksStopped(context.WithoutCancel(ctx), c)
		if runErr != nil {
			e.setState(context.WithoutCancel(ctx), c.ID, func(s *State) {
				s.Error = runErr.Error()
				if s.Status != StatusCreated {
					s.Status = StatusExited
				}
			})
			return exitCode, runErr
		}
		if c.endsAtExit() {
			return exitCode, nil
		}
		rec, err := e.find(ctx, c.ID)
		if err != nil {
			return exitCode, nil
		}
		if clk.Now().Sub(st.started) > ResetAfter {
			st.restarts = 0
		}
		st.started = time.Time{}
		if !rec.Restart.ShouldRestart(exitCode, st.restarts, rec.State.StoppedByUser) {
			if rec.State.Status == StatusRestarting {
				// Recorded as restarting at the exit; a stop came since.
				e.setState(ctx, c.ID, func(s *State) { s.Status = StatusExited })
			}
			return exitCode, nil
		}
		st.restarts++
		e.setState(ctx, c.ID, func(s *State) {
			s.Status = StatusRestarting
			s.RestartCount++
		})
		e.logger().Info("restarting container", "container", c.Name, "exit_code", exitCode, "restarts", st.restarts)
		if !e.sleepUnlessStopped(ctx, clk, c.ID, Backoff(st.restarts-1)) {
			e.setState(ctx, c.ID, func(s *State) { s.Status = StatusExited })
			return exitCode, nil
		}
	}
}

// sleepUnlessStopped sleeps for d and reports false when a user stopped
// the container meanwhile.
func (e *Engine) sleepUnlessStopped(ctx context.Context, clk clock, id string, d time.Duration) bool {
	deadline := clk.Now().Add(d)
	for clk.Now().Before(deadline) {
		rec, err := e.find(ctx, id)
		if err != nil || rec.State.StoppedByUser {
			return false
		}
		clk.Sleep(min(50*time.Millisecond, deadline.Sub(clk.Now())))
	}
	rec, err := e.find(ctx, id)
	return err == nil && !rec.State.StoppedByUser
}
