package engine

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/copysnap"
	"github.com/stockade/stockade/internal/flock"
	"github.com/stockade/stockade/metadata"
	"github.com/stockade/stockade/ociruntime"
)

// fakeClock is a clock whose Sleep returns at once, moving Now on by d.
// onSleep, when set, is called after each sleep with the sleeps so far.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	sleeps  []time.Duration
	onSleep func(sleeps []time.Duration)
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.sleeps = append(c.sleeps, d)
	sleeps, on := slices.Clone(c.sleeps), c.onSleep
	c.mu.Unlock()
	if on != nil {
		on(sleeps)
	}
}

// advance moves the clock on without counting a sleep: time a run takes.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// slept is the total of all sleeps so far.
func (c *fakeClock) slept() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var total time.Duration
	for _, d := range c.sleeps {
		total += d
	}
	return total
}

// fakeRun is what one run of the fake runner does.
type fakeRun struct {
	code int
	took time.Duration // how long the process ran
	err  error         // a start failure instead of an exit
	stop bool          // a user stops the container while it runs
}

// fakeRunner stands in for the monitor's runner: each run records the
// container running and then its exit, as startAndWait does, following a
// script. It refuses to run more than max times.
type fakeRunner struct {
	t      *testing.T
	e      *Engine
	id     string
	clk    *fakeClock
	script func(n int) fakeRun
	max    int
	// sleptAt is the clock's total sleep when each run started.
	sleptAt []time.Duration
	// during, when set, is called while run n is running.
	during func(n int)
}

func (f *fakeRunner) runOnce(ctx context.Context, waitAttach bool) (int, error) {
	n := len(f.sleptAt)
	f.sleptAt = append(f.sleptAt, f.clk.slept())
	if n >= f.max {
		f.t.Errorf("the loop started run %d; it should have stopped after %d", n+1, f.max)
		return 0, errors.New("test: too many runs")
	}
	r := f.script(n)
	if r.err != nil {
		return 0, r.err
	}
	must(f.t, f.e.setState(ctx, f.id, func(s *State) {
		s.Status, s.Pid, s.StartedAt = StatusRunning, 4242, f.clk.Now()
	}))
	if r.stop {
		must(f.t, f.e.setState(ctx, f.id, func(s *State) { s.StoppedByUser = true }))
	}
	if f.during != nil {
		f.during(n)
	}
	f.clk.advance(r.took)
	must(f.t, f.e.setState(ctx, f.id, func(s *State) {
		s.Status, s.ExitCode, s.Pid, s.FinishedAt = StatusExited, r.code, 0, f.clk.Now()
	}))
	return r.code, nil
}

// backoffs returns the sleeps between consecutive runs, and after the
// last one.
func (f *fakeRunner) backoffs() []time.Duration {
	var out []time.Duration
	for i := 1; i < len(f.sleptAt); i++ {
		out = append(out, f.sleptAt[i]-f.sleptAt[i-1])
	}
	if len(f.sleptAt) > 0 {
		if after := f.clk.slept() - f.sleptAt[len(f.sleptAt)-1]; after > 0 {
			out = append(out, after)
		}
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Error(err)
	}
}

// loopRuntime is the runtime of the loop tests: the container's process
// is running as far as it can tell, and kills are recorded.
type loopRuntime struct {
	ociruntime.Runtime
	mu    sync.Mutex
	kills []syscall.Signal
}

func (r *loopRuntime) State(context.Context, string) (specs.State, error) {
	return specs.State{Status: "running", Pid: 4242}, nil
}

func (r *loopRuntime) Delete(context.Context, string, bool) error { return ociruntime.ErrNotFound }

func (r *loopRuntime) Kill(_ context.Context, _ string, sig syscall.Signal, _ bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.kills = append(r.kills, sig)
	return nil
}

// newLoopEngine returns an engine over a fresh metadata store holding one
// created container with the restart policy given.
func newLoopEngine(t *testing.T, policy string) (*Engine, *Container) {
	t.Helper()
	ctx := context.Background()
	db, err := metadata.Open(ctx, filepath.Join(t.TempDir(), metadata.FileName))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseRestartPolicy(policy)
	if err != nil {
		t.Fatal(err)
	}
	id, err := NewID()
	if err != nil {
		t.Fatal(err)
	}
	c := &Container{ID: id, Name: "loop", Restart: p, State: State{Status: StatusCreated}}
	if err := db.Update(ctx, func(tx *bolt.Tx) error {
		return metadata.PutJSON(tx, metadata.BucketContainers, id, c)
	}); err != nil {
		t.Fatal(err)
	}
	e := &Engine{Root: t.TempDir(), StateDir: t.TempDir(), DB: db, Runtime: &loopRuntime{}}
	return e, c
}

func (e *Engine) mustFind(t *testing.T, id string) *Container {
	t.Helper()
	c, err := e.find(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRestartLoop drives the monitor's restart loop with a fake runner and
// a fake clock: how many runs each policy gets, the backoff before each
// restart, the restart count in the record, and what ends the loop.
func TestRestartLoop(t *testing.T) {
	ms := time.Millisecond
	failing := func(int) fakeRun { return fakeRun{code: 1} }
	tests := []struct {
		name         string
		policy       string
		script       func(n int) fakeRun
		wantRuns     int
		wantBackoffs []time.Duration
		wantCode     int
		wantErr      string
		wantStatus   Status
	}{
		{
			name: "no", policy: "no", script: failing,
			wantRuns: 1, wantCode: 1, wantStatus: StatusExited,
		},
		{
			name: "on-failure:3 restarts three times", policy: "on-failure:3", script: failing,
			wantRuns: 4, wantBackoffs: []time.Duration{100 * ms, 200 * ms, 400 * ms}, wantCode: 1, wantStatus: StatusExited,
		},
		{
			name: "on-failure stops at success", policy: "on-failure",
			script: func(n int) fakeRun {
				if n == 2 {
					return fakeRun{code: 0}
				}
				return fakeRun{code: 3}
			},
			wantRuns: 3, wantBackoffs: []time.Duration{100 * ms, 200 * ms}, wantCode: 0, wantStatus: StatusExited,
		},
		{
			name: "on-failure does not restart a success", policy: "on-failure:5",
			script:   func(int) fakeRun { return fakeRun{code: 0} },
			wantRuns: 1, wantStatus: StatusExited,
		},
		{
			name: "always until a user stops it", policy: "always",
			script:   func(n int) fakeRun { return fakeRun{code: 0, stop: n == 5} },
			wantRuns: 6, wantBackoffs: []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms}, wantStatus: StatusExited,
		},
		{
			name: "a run longer than ResetAfter starts the backoff over", policy: "unless-stopped",
			script: func(n int) fakeRun {
				r := fakeRun{code: 2, stop: n == 4}
				if n == 2 {
					r.took = ResetAfter + time.Second
				}
				return r
			},
			wantRuns: 5, wantBackoffs: []time.Duration{100 * ms, 200 * ms, 100 * ms, 200 * ms}, wantCode: 2, wantStatus: StatusExited,
		},
		{
			name: "a start failure ends the loop", policy: "always",
			script: func(n int) fakeRun {
				if n == 1 {
					return fakeRun{err: &StartError{Container: "loop", Msg: "no such command"}}
				}
				return fakeRun{code: 1}
			},
			wantRuns: 2, wantBackoffs: []time.Duration{100 * ms}, wantErr: "start loop: no such command", wantStatus: StatusExited,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, c := newLoopEngine(t, tt.policy)
			clk := newFakeClock()
			r := &fakeRunner{t: t, e: e, id: c.ID, clk: clk, script: tt.script, max: tt.wantRuns}
			code, err := e.restartLoop(context.Background(), c, r, clk, false)
			if t.Failed() {
				return
			}
			if got := len(r.sleptAt); got != tt.wantRuns {
				t.Errorf("%d runs, want %d", got, tt.wantRuns)
			}
			if got := r.backoffs(); !slices.Equal(got, tt.wantBackoffs) {
				t.Errorf("backoffs %v, want %v", got, tt.wantBackoffs)
			}
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d", code, tt.wantCode)
			}
			if (err == nil) != (tt.wantErr == "") || err != nil && err.Error() != tt.wantErr {
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
			rec := e.mustFind(t, c.ID)
			if rec.State.RestartCount != tt.wantRuns-1 {
				t.Errorf("record's restart count %d, want %d", rec.State.RestartCount, tt.wantRuns-1)
			}
			if rec.State.Status != tt.wantStatus {
				t.Errorf("record's status %s, want %s", rec.State.Status, tt.wantStatus)
			}
			if tt.wantErr != "" && rec.State.Error != tt.wantErr {
				t.Errorf("record's error %q, want %q", rec.State.Error, tt.wantErr)
			}
		})
	}
}

// TestRestartLoopBackoffCap checks the backoff doubles up to one minute
// and stays there.
func TestRestartLoopBackoffCap(t *testing.T) {
	e, c := newLoopEngine(t, "always")
	clk := newFakeClock()
	const runs = 12
	r := &fakeRunner{t: t, e: e, id: c.ID, clk: clk, max: runs,
		script: func(n int) fakeRun { return fakeRun{code: 137, stop: n == runs-1} }}
	e.restartLoop(context.Background(), c, r, clk, false)
	want := []time.Duration{}
	for _, ms := range []int{100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000} {
		want = append(want, time.Duration(ms)*time.Millisecond)
	}
	if got := r.backoffs(); !slices.Equal(got, want) {
		t.Errorf("backoffs %v, want %v", got, want)
	}
	if rc := e.mustFind(t, c.ID).State.RestartCount; rc != runs-1 {
		t.Errorf("restart count %d, want %d", rc, runs-1)
	}
}

// TestRestartLoopStopDuringBackoff stops the container while the loop
// waits to restart it: the wait ends early, the container is not started
// again, and its record says exited.
func TestRestartLoopStopDuringBackoff(t *testing.T) {
	e, c := newLoopEngine(t, "always")
	clk := newFakeClock()
	r := &fakeRunner{t: t, e: e, id: c.ID, clk: clk, max: 2,
		script: func(int) fakeRun { return fakeRun{code: 1} }}
	// The second backoff is 200 ms; the user stops the container 50 ms
	// into it.
	clk.onSleep = func(sleeps []time.Duration) {
		if len(r.sleptAt) == 2 && clk.slept()-r.sleptAt[1] >= 50*time.Millisecond {
			if err := e.Kill(context.Background(), c.ID, syscall.SIGTERM); err != nil {
				t.Errorf("kill during backoff: %v", err)
			}
			clk.onSleep = nil
		}
	}
	e.restartLoop(context.Background(), c, r, clk, false)
	if len(r.sleptAt) != 2 {
		t.Fatalf("%d runs, want 2", len(r.sleptAt))
	}
	b := r.backoffs()
	if len(b) != 2 || b[0] != 100*time.Millisecond || b[1] >= Backoff(1) {
		t.Errorf("backoffs %v: want 100ms, then one cut short of %v", b, Backoff(1))
	}
	rec := e.mustFind(t, c.ID)
	if rec.State.Status != StatusExited || !rec.State.StoppedByUser || rec.State.RestartCount != 2 {
		t.Errorf("record: status %s, stopped by user %t, restarts %d; want exited, true, 2", rec.State.Status, rec.State.StoppedByUser, rec.State.RestartCount)
	}
	if rt := e.Runtime.(*loopRuntime); !slices.Equal(rt.kills, []syscall.Signal{syscall.SIGTERM}) {
		t.Errorf("runtime got kills %v, want [SIGTERM]", rt.kills)
	}
}

// decidingRunner is the fake runner as the monitor's runner is: it
// records its exit itself, as restarting when the loop says it will
// restart (exitDecider), and keeps the status each exit was recorded with.
type decidingRunner struct {
	*fakeRunner
	willRestart func(int, *Container) bool
	recorded    []Status
}

func (d *decidingRunner) withRestartDecision(f func(int, *Container) bool) runner {
	d.willRestart = f
	return d
}

func (d *decidingRunner) runOnce(ctx context.Context, waitAttach bool) (int, error) {
	code, err := d.fakeRunner.runOnce(ctx, waitAttach)
	if err != nil {
		return code, err
	}
	rec, ferr := d.e.find(ctx, d.id)
	if ferr != nil {
		d.t.Fatal(ferr)
	}
	if d.willRestart != nil && d.willRestart(code, rec) {
		must(d.t, d.e.setState(ctx, d.id, func(s *State) { s.Status = StatusRestarting }))
	}
	rec, _ = d.e.find(ctx, d.id)
	d.recorded = append(d.recorded, rec.State.Status)
	return code, nil
}

// TestExitRecordedAsRestarting: the exit of a run the loop will restart
// is recorded as restarting, never exited, so that ps and wait do not see
// a container about to restart as exited; the last exit, after which the
// policy gives up, is recorded as exited. (TestRestartPolicies, e2e,
// caught a container seen exited between its exit and its restart.)
func TestExitRecordedAsRestarting(t *testing.T) {
	e, c := newLoopEngine(t, "on-failure:2")
	clk := newFakeClock()
	f := &fakeRunner{t: t, e: e, id: c.ID, clk: clk, max: 3, script: func(int) fakeRun { return fakeRun{code: 1, took: time.Second} }}
	d := &decidingRunner{fakeRunner: f}
	code, err := e.restartLoop(context.Background(), c, d, clk, false)
	if err != nil || code != 1 {
		t.Fatalf("restartLoop = %d, %v", code, err)
	}
	want := []Status{StatusRestarting, StatusRestarting, StatusExited}
	if !slices.Equal(d.recorded, want) {
		t.Errorf("exits recorded as %v, want %v", d.recorded, want)
	}
	if rec, _ := e.find(context.Background(), c.ID); rec.State.Status != StatusExited || rec.State.RestartCount != 2 {
		t.Errorf("final state %+v", rec.State)
	}
}

// TestRestartLoopResumed: a loop resumed after a handover to the small
// monitor carries the restarts counted so far and the run's start time,
// so on-failure:2 with one restart done allows one more, with the second
// backoff; and a resumed run that had started long before counts as long
// (the backoff starts over).
func TestRestartLoopResumed(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name         string
		startedAgo   time.Duration
		wantRuns     int
		wantBackoffs []time.Duration
	}{
		{"short run", time.Second, 2, []time.Duration{200 * ms}},
		{"long run", time.Minute, 3, []time.Duration{100 * ms, 200 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, c := newLoopEngine(t, "on-failure:2")
			clk := newFakeClock()
			r := &fakeRunner{t: t, e: e, id: c.ID, clk: clk, max: 3, script: func(int) fakeRun { return fakeRun{code: 1} }}
			st := &loopState{restarts: 1, started: clk.Now().Add(-tt.startedAgo)}
			code, err := e.restartLoopFrom(context.Background(), c, r, clk, false, st)
			if err != nil || code != 1 {
				t.Fatalf("got %d, %v", code, err)
			}
			if len(r.sleptAt) != tt.wantRuns {
				t.Errorf("%d runs, want %d", len(r.sleptAt), tt.wantRuns)
			}
			if got := r.backoffs(); !slices.Equal(got, tt.wantBackoffs) {
				t.Errorf("backoffs %v, want %v", got, tt.wantBackoffs)
			}
		})
	}
}

// TestRemoveWaitsForFinishingMonitor: rm of a container whose exit is
// recorded while its monitor still finishes (it holds its lock: the log,
// the stop hooks, NRI's StopContainer) waits for the monitor, instead of
// saying the container is running; a monitor that does not let go within
// the bound is still refused.
func TestRemoveWaitsForFinishingMonitor(t *testing.T) {
	ctx := context.Background()
	e, c := newLoopEngine(t, "no")
	sn, err := copysnap.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.Snapshotter = sn
	if err := e.setState(ctx, c.ID, func(s *State) { s.Status = StatusExited }); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(e.runDir(c.ID), 0o700); err != nil {
		t.Fatal(err)
	}
	monitor, err := flock.Acquire(ctx, e.lockPath(c.ID), flock.Exclusive)
	if err != nil {
		t.Fatal(err)
	}
	go func(monitor io.Closer) { // its own copy: the test reuses the name
		time.Sleep(100 * time.Millisecond)
		monitor.Close()
	}(monitor)
	if err := e.Remove(ctx, c.ID, false); err != nil {
		t.Fatalf("rm while the monitor finishes: %v", err)
	}
	if _, err := e.Get(ctx, c.ID); !errors.Is(err, ErrNoSuchContainer) {
		t.Errorf("after rm: %v, want ErrNoSuchContainer", err)
	}

	// A monitor that removes its container itself (--rm) while rm waits:
	// rm has nothing left to do.
	e, c = newLoopEngine(t, "no")
	e.Snapshotter = sn
	if err := e.setState(ctx, c.ID, func(s *State) { s.Status = StatusExited }); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(e.runDir(c.ID), 0o700)
	if monitor, err = flock.Acquire(ctx, e.lockPath(c.ID), flock.Exclusive); err != nil {
		t.Fatal(err)
	}
	go func(db *metadata.DB, id string, monitor io.Closer) {
		time.Sleep(100 * time.Millisecond)
		db.Update(ctx, func(tx *bolt.Tx) error { return metadata.Delete(tx, metadata.BucketContainers, id) })
		monitor.Close()
	}(e.DB, c.ID, monitor)
	if err := e.Remove(ctx, c.ID, false); err != nil {
		t.Errorf("rm while the monitor removes the container: %v, want nil", err)
	}
}
