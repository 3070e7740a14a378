package engine

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stockade/stockade/ociruntime"
)

// raceWindow is how long a held update waits for a rival that should be
// locked out. The rival of a broken update (read and write in two
// transactions) gets through in milliseconds, so it is caught every time;
// a correct update only costs the test this wait.
const raceWindow = 2 * time.Second

// holdUpdate holds the first update whose new record matches, between its
// read and its write: there it calls rival, which starts another updater
// and returns a channel closed when that one is done, and the test fails
// if the rival gets done before the held update is written. The hold ends
// after raceWindow.
func holdUpdate(t *testing.T, e *Engine, match func(*Container) bool, rival func() <-chan struct{}) {
	t.Helper()
	var once sync.Once
	e.updateHook = func(c *Container) {
		if !match(c) {
			return
		}
		once.Do(func() {
			select {
			case <-rival():
				t.Errorf("a rival update got through while another was between its read and its write: an update is not one transaction")
			case <-time.After(raceWindow):
			}
		})
	}
}

// goDo runs fn in a goroutine and returns a channel closed when it is done.
func goDo(fn func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	return done
}

// runnerFunc is a runner from a function.
type runnerFunc func(ctx context.Context, waitAttach bool) (int, error)

func (f runnerFunc) runOnce(ctx context.Context, waitAttach bool) (int, error) {
	return f(ctx, waitAttach)
}

func setRunning(s *State) { s.Status, s.Pid = StatusRunning, 4242 }

// setExited7 is the monitor's record of the process's exit with code 7.
func setExited7(s *State) { s.Status, s.ExitCode, s.Pid = StatusExited, 7, 0 }

// TestStopRacingExitKeepsBoth: a user's stop is between reading the record
// and writing StoppedByUser when the container's process exits and its
// monitor records the exit. Both must stay, the exit and the stop, and the
// restart policy (always) must leave the container down.
func TestStopRacingExitKeepsBoth(t *testing.T) {
	e, c := newLoopEngine(t, "always")
	runs := 0
	run := runnerFunc(func(ctx context.Context, _ bool) (int, error) {
		runs++
		if runs > 1 {
			t.Errorf("the loop restarted a container its user stopped")
			return 0, errors.New("test: no second run")
		}
		must(t, e.setState(ctx, c.ID, setRunning))
		var exited <-chan struct{}
		holdUpdate(t, e, func(c *Container) bool { return c.State.StoppedByUser }, func() <-chan struct{} {
			exited = goDo(func() { must(t, e.setState(ctx, c.ID, setExited7)) })
			return exited
		})
		if err := e.Kill(ctx, c.ID, syscall.SIGTERM); err != nil {
			t.Errorf("kill: %v", err)
		}
		if exited == nil {
			t.Fatal("the kill never wrote StoppedByUser")
		}
		<-exited
		return 7, nil
	})
	code, err := e.restartLoop(context.Background(), c, run, newFakeClock(), false)
	if code != 7 || err != nil {
		t.Errorf("loop: exit code %d, error %v; want 7, nil", code, err)
	}
	rec := e.mustFind(t, c.ID)
	if rec.State.Status != StatusExited || rec.State.ExitCode != 7 || !rec.State.StoppedByUser {
		t.Errorf("record: %s, exit code %d, stopped by user %t; want exited, 7, true", rec.State.Status, rec.State.ExitCode, rec.State.StoppedByUser)
	}
	if runs != 1 || rec.State.RestartCount != 0 {
		t.Errorf("%d runs, %d restarts; want 1, 0", runs, rec.State.RestartCount)
	}
}

// TestExitRacingStopKeepsStoppedByUser is the other order: the monitor is
// between reading the record and writing the exit when the user's stop
// comes. The stop must not be lost under the exit record: either it waits
// and finds the container exited (and says so), or it is recorded and the
// container stays down.
func TestExitRacingStopKeepsStoppedByUser(t *testing.T) {
	e, c := newLoopEngine(t, "always")
	var killErr error
	runs := 0
	run := runnerFunc(func(ctx context.Context, _ bool) (int, error) {
		runs++
		if runs > 1 {
			if killErr == nil {
				t.Errorf("the loop restarted a container whose stop succeeded")
			}
			return 0, &StartError{Container: c.Name, Msg: "test: no second run"}
		}
		must(t, e.setState(ctx, c.ID, setRunning))
		var killed <-chan struct{}
		holdUpdate(t, e, func(c *Container) bool { return c.State.Status == StatusExited }, func() <-chan struct{} {
			killed = goDo(func() { killErr = e.Kill(ctx, c.ID, syscall.SIGTERM) })
			return killed
		})
		must(t, e.setState(ctx, c.ID, setExited7))
		if killed == nil {
			t.Fatal("the exit record was never held")
		}
		<-killed
		return 7, nil
	})
	e.restartLoop(context.Background(), c, run, newFakeClock(), false)
	rec := e.mustFind(t, c.ID)
	switch {
	case killErr == nil:
		if !rec.State.StoppedByUser || runs != 1 {
			t.Errorf("the stop succeeded, but the record says stopped by user %t after %d runs", rec.State.StoppedByUser, runs)
		}
	case errors.Is(killErr, ociruntime.ErrNotRunning):
		if rec.State.StoppedByUser {
			t.Errorf("the stop failed (%v), but the record says stopped by user", killErr)
		}
	default:
		t.Errorf("kill: %v", killErr)
	}
	if rec.State.ExitCode != 7 && runs == 1 {
		t.Errorf("the exit code %d was lost", rec.State.ExitCode)
	}
}
