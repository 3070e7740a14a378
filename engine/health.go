package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Docker's health check defaults, used where a HealthConfig leaves a
// field zero.
const (
	DefaultHealthInterval = 30 * time.Second
	DefaultHealthTimeout  = 30 * time.Second
	DefaultHealthRetries  = 3
)

// The states of a health check, as docker names them.
const (
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

const (
	// healthLogLen is how many results HealthState keeps, as docker.
	healthLogLen = 5
	// healthOutputMax bounds the output kept of one check, as docker.
	healthOutputMax = 4096
)

// HealthConfig is a container's health check, in the shape of docker's
// (and of an image config's Healthcheck): Test is ["NONE"], ["CMD", ARG...]
// or ["CMD-SHELL", COMMAND]; zero durations and retries take docker's
// defaults.
type HealthConfig struct {
	Test        []string      `json:"test,omitempty"`
	Interval    time.Duration `json:"interval,omitempty"`
	Timeout     time.Duration `json:"timeout,omitempty"`
	StartPeriod time.Duration `json:"startPeriod,omitempty"`
	Retries     int           `json:"retries,omitempty"`
}

// Enabled reports whether h asks for a check to run.
func (h *HealthConfig) Enabled() bool {
	return h != nil && len(h.Test) > 0 && h.Test[0] != "NONE"
}

// Validate checks h's shape; its errors name the field.
func (h *HealthConfig) Validate() error {
	if h == nil || len(h.Test) == 0 {
		return nil
	}
	switch h.Test[0] {
	case "NONE":
	case "CMD":
		if len(h.Test) < 2 || h.Test[1] == "" {
			return errors.New("health check CMD has no command")
		}
	case "CMD-SHELL":
		if len(h.Test) != 2 || strings.TrimSpace(h.Test[1]) == "" {
			return errors.New("health check CMD-SHELL wants one command string")
		}
	default:
		return fmt.Errorf("health check test %q: want NONE, CMD or CMD-SHELL", h.Test[0])
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"interval", h.Interval}, {"timeout", h.Timeout}, {"start period", h.StartPeriod}} {
		if d.v < 0 {
			return fmt.Errorf("health check %s %s: must not be negative", d.name, d.v)
		}
		if d.v != 0 && d.v < time.Millisecond && d.name != "start period" {
			return fmt.Errorf("health check %s %s: at least 1ms", d.name, d.v)
		}
	}
	if h.Retries < 0 {
		return fmt.Errorf("health check retries %d: must not be negative", h.Retries)
	}
	return nil
}

// withDefaults fills the zero fields with docker's defaults.
func (h HealthConfig) withDefaults() HealthConfig {
	if h.Interval == 0 {
		h.Interval = DefaultHealthInterval
	}
	if h.Timeout == 0 {
		h.Timeout = DefaultHealthTimeout
	}
	if h.Retries == 0 {
		h.Retries = DefaultHealthRetries
	}
	return h
}

// Args returns the argv a check runs: CMD's arguments, or /bin/sh -c for
// CMD-SHELL.
func (h *HealthConfig) Args() ([]string, error) {
	if !h.Enabled() {
		return nil, errors.New("no health check")
	}
	if err := h.Validate(); err != nil {
		return nil, err
	}
	if h.Test[0] == "CMD-SHELL" {
		return []string{"/bin/sh", "-c", h.Test[1]}, nil
	}
	return append([]string{}, h.Test[1:]...), nil
}

// MergeHealthConfig returns the check of a new container: the image's,
// with each field the user set (non-zero in user) taking its place, as
// docker merges --health-* with HEALTHCHECK. Either may be nil.
func MergeHealthConfig(img, user *HealthConfig) *HealthConfig {
	if img == nil && user == nil {
		return nil
	}
	var out HealthConfig
	if img != nil {
		out = *img
		out.Test = append([]string{}, img.Test...)
	}
	if user != nil {
		if len(user.Test) > 0 {
			out.Test = append([]string{}, user.Test...)
		}
		if user.Interval != 0 {
			out.Interval = user.Interval
		}
		if user.Timeout != 0 {
			out.Timeout = user.Timeout
		}
		if user.StartPeriod != 0 {
			out.StartPeriod = user.StartPeriod
		}
		if user.Retries != 0 {
			out.Retries = user.Retries
		}
	}
	if len(out.Test) == 0 {
		return nil // only timings, and no check to time
	}
	return &out
}

// HealthResult is one run of a health check.
type HealthResult struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	ExitCode int       `json:"exitCode"`
	// Output is the check's stdout and stderr, cut at 4096 bytes.
	Output string `json:"output"`
}

// HealthState is the state of a running container's health check:
// Status is starting, healthy or unhealthy; FailingStreak counts the
// failures in a row; Log keeps the last five results, oldest first.
type HealthState struct {
	Status        string         `json:"status"`
	FailingStreak int            `json:"failingStreak"`
	Log           []HealthResult `json:"log,omitempty"`
}

// Record updates h with the result r of a check of cfg, as docker does:
// a success makes it healthy; a failure counts in the streak, except in
// the start period (inStart), and retries failures in a row make it
// unhealthy. It reports whether Status changed.
func (h *HealthState) Record(cfg HealthConfig, r HealthResult, inStart bool) bool {
	cfg = cfg.withDefaults()
	before := h.Status
	if h.Status == "" {
		h.Status = HealthStarting
	}
	h.Log = append(h.Log, r)
	if n := len(h.Log); n > healthLogLen {
		h.Log = append([]HealthResult{}, h.Log[n-healthLogLen:]...)
	}
	if r.ExitCode == 0 {
		h.Status = HealthHealthy
		h.FailingStreak = 0
	} else if !inStart || h.Status != HealthStarting {
		h.FailingStreak++
		if h.FailingStreak >= cfg.Retries {
			h.Status = HealthUnhealthy
		}
	}
	return h.Status != before
}

// Healthy reports whether c runs and may be relied on: its health check,
// if it has one, has passed last (dependency ordering waits for this).
func (c *Container) Healthy() bool {
	if c.State.Status != StatusRunning || c.State.Paused {
		return false
	}
	if !c.Healthcheck.Enabled() {
		return true
	}
	return c.State.Health != nil && c.State.Health.Status == HealthHealthy
}

// HealthStatus is the health column of a listing: starting, healthy,
// unhealthy, or "" for a container without a running check.
func (s State) HealthStatus() string {
	if s.Status != StatusRunning || s.Health == nil {
		return ""
	}
	return s.Health.Status
}

// Summary is the STATUS column of ps, as docker prints it: Describe, with
// "(Paused)" or the health in parentheses for a running container.
func (s State) Summary(now time.Time) string {
	out := s.Describe(now)
	if s.Status != StatusRunning {
		return out
	}
	if s.Paused {
		return out + " (Paused)"
	}
	switch h := s.HealthStatus(); h {
	case "":
	case HealthStarting:
		out += " (health: starting)"
	default:
		out += " (" + h + ")"
	}
	return out
}

// parseImageHealthcheck reads config.Healthcheck of an image config, in
// docker's field names (durations in nanoseconds).
func parseImageHealthcheck(data []byte) (*HealthConfig, error) {
	var cfg struct {
		Config struct {
			Healthcheck *struct {
				Test        []string
				Interval    time.Duration
				Timeout     time.Duration
				StartPeriod time.Duration
				Retries     int
			}
		} `json:"config"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	hc := cfg.Config.Healthcheck
	if hc == nil || len(hc.Test) == 0 {
		return nil, nil
	}
	out := &HealthConfig{Test: hc.Test, Interval: hc.Interval, Timeout: hc.Timeout, StartPeriod: hc.StartPeriod, Retries: hc.Retries}
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("image HEALTHCHECK: %w", err)
	}
	return out, nil
}

// limitedBuffer keeps the first max bytes written to it; it is safe
// for concurrent use.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// RunHealthcheck runs c's health check once, records the result in the
// container's state and returns it (`stockade healthcheck run`, and each
// tick of the monitor's checker). A check that cannot start, or that
// outlives its timeout, is a failed result, not an error; errors are for
// a container without a check or not running.
func (e *Engine) RunHealthcheck(ctx context.Context, ref string) (HealthResult, *HealthState, error) {
	c, err := e.Get(ctx, ref)
	if err != nil {
		return HealthResult{}, nil, err
	}
	if !c.Healthcheck.Enabled() {
		return HealthResult{}, nil, fmt.Errorf("healthcheck %s: the container has no health check", c.Name)
	}
	if c.State.Status != StatusRunning {
		return HealthResult{}, nil, fmt.Errorf("healthcheck %s: container is not running", c.Name)
	}
	if c.State.Paused {
		return HealthResult{}, nil, fmt.Errorf("healthcheck %s: container is paused", c.Name)
	}
	args, err := c.Healthcheck.Args()
	if err != nil {
		return HealthResult{}, nil, fmt.Errorf("healthcheck %s: %w", c.Name, err)
	}
	cfg := c.Healthcheck.withDefaults()
	r := e.probe(ctx, c, args, cfg.Timeout)
	inStart := r.Start.Sub(c.State.StartedAt) < cfg.StartPeriod
	var state *HealthState
	var changed bool
	startedAt := c.State.StartedAt
	_, err = e.update(ctx, c.ID, func(rec *Container) error {
		if rec.State.Status != StatusRunning || !rec.State.StartedAt.Equal(startedAt) {
			return fmt.Errorf("healthcheck %s: the container stopped during the check", c.Name)
		}
		if rec.State.Health == nil {
			rec.State.Health = &HealthState{Status: HealthStarting}
		}
		changed = rec.State.Health.Record(cfg, r, inStart)
		state = rec.State.Health
		return nil
	})
	if err != nil {
		return r, nil, err
	}
	if changed {
		e.Event(ctx, c, "health_status: "+state.Status, nil)
	}
	return r, state, nil
}

// probe runs args in c with a timeout, and returns the result. The
// check's output goes through a pipe of this process straight to the
// check (no copying process of the runtime's waits on it); a check that
// outlives its timeout is killed by the pid the runtime wrote, and the
// output of processes it left behind is not waited for.
func (e *Engine) probe(ctx context.Context, c *Container, args []string, timeout time.Duration) HealthResult {
	start := time.Now().UTC()
	fail := func(msg string) HealthResult {
		return HealthResult{Start: start, End: time.Now().UTC(), ExitCode: -1, Output: msg}
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return fail(err.Error())
	}
	out := &limitedBuffer{max: healthOutputMax}
	copied := make(chan struct{})
	go func() {
		io.Copy(out, pr)
		close(copied)
	}()
	id, err := NewID()
	if err != nil {
		pw.Close()
		pr.Close()
		return fail(err.Error())
	}
	pidFile := filepath.Join(e.runDir(c.ID), "health-"+id[:8]+".pid")
	defer os.Remove(pidFile)
	type exit struct {
		code int
		err  error
	}
	done := make(chan exit, 1)
	go func() {
		code, err := e.Exec(context.WithoutCancel(ctx), c.ID, ExecOptions{Args: args, Stdout: pw, Stderr: pw, PidFile: pidFile})
		done <- exit{code, err}
	}()
	var got exit
	timedOut := false
	select {
	case got = <-done:
	case <-time.After(timeout):
		timedOut = true
	case <-ctx.Done():
		timedOut = true
	}
	if timedOut {
		// The runtime may not have written the pid yet (a loaded host):
		// wait for it, a while.
		grace := time.After(5 * time.Second)
	kill:
		for {
			if data, err := os.ReadFile(pidFile); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 {
					syscall.Kill(pid, syscall.SIGKILL)
					select {
					case <-done:
					case <-grace:
					}
					break kill
				}
			}
			select {
			case <-done:
				break kill
			case <-grace:
				break kill
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	pw.Close()
	select {
	case <-copied:
	case <-time.After(time.Second):
		// A process the check left behind holds the pipe.
	}
	pr.Close()
	r := HealthResult{Start: start, End: time.Now().UTC(), ExitCode: got.code, Output: out.String()}
	switch {
	case timedOut:
		r.ExitCode = -1
		r.Output = fmt.Sprintf("Health check exceeded timeout (%s)", timeout)
	case got.err != nil:
		if r.ExitCode == 0 {
			r.ExitCode = -1
		}
		r.Output = got.err.Error()
	}
	return r
}

// HealthLoopOptions are how a health checker's loop goes on after a
// sleep it handed to another program (see RunHealthLoop).
type HealthLoopOptions struct {
	// RunStarted is the start of the container's run the loop serves,
	// when it resumes after a sleep; zero: the run the record has now.
	RunStarted time.Time
	// AfterSleep says that the interval has passed already: the loop
	// checks at once.
	AfterSleep bool
	// Resume, when not nil, is the command line that continues the loop
	// after a sleep (with AfterSleep and RunStarted). With it, an
	// interval of at least MonitorIdleAfter is slept by the small
	// monitor (SmallMonitor), in the same process: the loop execs
	// `stockade-monitor --sleep-then-exec INTERVAL -- Resume(...)...`,
	// which execs the command back when the interval is over, so that
	// between checks the checker is that program, not the engine. The
	// two program starts, about 35 ms of CPU, are paid once per check.
	Resume func(runStarted time.Time) []string
}

// runHealthLoop is the body of a container's health checker (`stockade
// healthcheck monitor ID`, started by the monitor once the container
// runs): it runs the check every interval until the container's process
// stops or ctx ends. It runs as a process of its own because the monitor,
// a subreaper, reaps every child it has; the checks' runtime processes
// are this process's children instead. With opts.Resume, it may sleep by
// exec'ing the small monitor (see HealthLoopOptions).
func (e *Engine) runHealthLoop(ctx context.Context, id string, opts HealthLoopOptions) error {
	c, err := e.find(ctx, id)
	if err != nil {
		return err
	}
	if !c.Healthcheck.Enabled() {
		return nil
	}
	cfg := c.Healthcheck.withDefaults()
	startedAt := c.State.StartedAt
	if !opts.RunStarted.IsZero() {
		startedAt = opts.RunStarted
	}
	first := opts.AfterSleep
	sleeper := ""
	if opts.Resume != nil && e.MonitorIdleAfter > 0 && cfg.Interval >= e.MonitorIdleAfter {
		sleeper = e.smallMonitor()
	}
	for {
		if !first {
			if sleeper != "" {
				argv := append([]string{sleeper, "--sleep-then-exec", cfg.Interval.String(), "--"}, opts.Resume(startedAt)...)
				err := syscall.Exec(sleeper, argv, os.Environ())
				e.logger().Warn("health checker: sleep in the small monitor", "container", c.Name, "error", err)
				sleeper = "" // sleep here from now on
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(cfg.Interval):
			}
		}
		first = false
		rec, err := e.find(ctx, id)
		if err != nil || rec.State.Status != StatusRunning || !rec.State.StartedAt.Equal(startedAt) {
			return nil // stopped, restarted (a new checker runs) or removed
		}
		if !monitorAlive(e.lockPath(id)) {
			return nil // the monitor was killed: nobody would stop this
		}
		if rec.State.Paused {
			continue
		}
		if _, _, err := e.RunHealthcheck(ctx, id); err != nil {
			e.logger().Debug("health check", "container", c.Name, "error", err)
		}
	}
}

// RunHealthLoop is runHealthLoop for the hidden command; SIGTERM ends it.
func (e *Engine) RunHealthLoop(ctx context.Context, id string, opts HealthLoopOptions) error {
	return e.runHealthLoop(ctx, id, opts)
}

// startHealth starts the health checker of c when it has a check, and
// returns what stops it (killing the checker and reaping it) and its pid
// (0 when none runs). It is called by the monitor once the container
// runs.
func (e *Engine) startHealth(ctx context.Context, c *Container) (func(), int) {
	if !c.Healthcheck.Enabled() || e.HealthCommand == nil {
		return func() {}, 0
	}
	e.update(ctx, c.ID, func(rec *Container) error {
		rec.State.Health = &HealthState{Status: HealthStarting}
		return nil
	})
	cmd := e.HealthCommand(c.ID)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		e.logger().Warn("start health checker", "container", c.Name, "error", err)
		return func() {}, 0
	}
	pid := cmd.Process.Pid
	return func() {
		// The checker's group: it and a check it is running.
		syscall.Kill(-pid, syscall.SIGKILL)
		reapChild(pid)
		if cmd.Stderr != nil {
			if f, ok := cmd.Stderr.(*os.File); ok {
				f.Close()
			}
		}
	}, pid
}

// started is called by the monitor once c's process runs: it logs the
// start event and starts the health checker. What it returns is called
// with the exit code once the process ended: it stops the checker and
// logs the die event; and the checker's pid (0 for none), which a
// handover to the small monitor passes on.
func (e *Engine) started(ctx context.Context, c *Container) (func(code int), int) {
	e.Event(ctx, c, "start", nil)
	stop, healthPid := e.startHealth(ctx, c)
	return func(code int) {
		stop()
		e.Event(context.WithoutCancel(ctx), c, "die", map[string]string{"exitCode": strconv.Itoa(code)})
	}, healthPid
}

// DefaultStopTimeout is how long stop waits before SIGKILL when neither
// the command line nor the container says.
const DefaultStopTimeout = 10 * time.Second

// StopTimeoutOr is c's stop timeout (--stop-timeout), or def when it has
// none.
func (c *Container) StopTimeoutOr(def time.Duration) time.Duration {
	if c.StopTimeout != nil {
		return time.Duration(*c.StopTimeout) * time.Second
	}
	return def
}

// applyRunDefaults completes a new container's record from the create
// options and the image's config, cfg as decoded from data: the health
// check (the image's HEALTHCHECK, which the OCI type has no field for,
// overridden by --health-*), the stop signal (--stop-signal, else the
// image's STOPSIGNAL) and the stop timeout.
func applyRunDefaults(c *Container, data []byte, cfg *ocispec.Image, opts CreateOptions) error {
	c.StopSignal = opts.StopSignal
	if c.StopSignal == "" && cfg != nil {
		c.StopSignal = cfg.Config.StopSignal
	}
	c.StopTimeout = opts.StopTimeout
	var imgHC *HealthConfig
	if opts.Healthcheck == nil || len(opts.Healthcheck.Test) == 0 {
		var err error
		if imgHC, err = parseImageHealthcheck(data); err != nil {
			return fmt.Errorf("image %s: config: %w", opts.Image.Name, err)
		}
	}
	c.Healthcheck = MergeHealthConfig(imgHC, opts.Healthcheck)
	return nil
}
