// Package phase times the phases of one command (--debug-timing): each
// Mark closes the phase that began at the previous mark. A Timer travels
// in a context; without one, Mark is a context lookup and nothing more.
//
// A child process (the container's monitor) joins its parent's timing
// through the environment (Env, FromEnv): it appends its own phases to a
// file the parent reads back (Collect) before printing the whole table.
package phase

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Environment variables a child reads in FromEnv.
const (
	// EnvFile names the file a child appends its phases to.
	EnvFile = "STOCKADE_PHASE_FILE"
	// EnvStart is when the parent started the child (Unix nanoseconds):
	// the child's first phase begins there, so exec and package
	// initialisation are counted.
	EnvStart = "STOCKADE_PHASE_START"
)

// Record is one timed phase.
type Record struct {
	// Proc is the process that ran it ("cli", "monitor").
	Proc string
	// Name says what ran.
	Name string
	// Start is when the phase began; Dur how long it took.
	Start time.Time
	Dur   time.Duration
}

// Timer records the phases of one process. Its methods are safe for
// concurrent use and do nothing on a nil Timer.
type Timer struct {
	mu      sync.Mutex
	proc    string
	origin  time.Time
	last    time.Time
	records []Record
	file    string // where a child's Flush appends and Collect reads
	flushed int    // records already flushed
}

// New returns a timer for process proc whose first phase starts now.
func New(proc string) *Timer {
	now := time.Now()
	return &Timer{proc: proc, origin: now, last: now}
}

type ctxKey struct{}

// With returns ctx carrying t.
func With(ctx context.Context, t *Timer) context.Context {
	if t == nil {
		return ctx
	}
	return context.WithValue(ctx, ctxKey{}, t)
}

// From returns the timer in ctx, or nil.
func From(ctx context.Context) *Timer {
	t, _ := ctx.Value(ctxKey{}).(*Timer)
	return t
}

// Mark closes the current phase of ctx's timer under name and starts the
// next one. Without a timer in ctx it does nothing.
func Mark(ctx context.Context, name string) {
	From(ctx).Mark(name)
}

// Mark closes the current phase under name and starts the next one.
func (t *Timer) Mark(name string) {
	if t == nil {
		return
	}
	now := time.Now()
	t.mu.Lock()
	t.records = append(t.records, Record{Proc: t.proc, Name: name, Start: t.last, Dur: now.Sub(t.last)})
	t.last = now
	t.mu.Unlock()
}

// Skip starts the next phase now without recording the time since the
// last mark (time spent waiting on something another timer records).
func (t *Timer) Skip() {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.last = time.Now()
	t.mu.Unlock()
}

// Records returns a copy of the phases recorded so far.
func (t *Timer) Records() []Record {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Record(nil), t.records...)
}

// Share makes t a parent whose children append their phases to file (an
// existing file; see Env and Collect).
func (t *Timer) Share(file string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.file = file
	t.mu.Unlock()
}

// File is the file Share set, or "".
func (t *Timer) File() string {
	if t == nil {
		return ""
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.file
}

// Env returns the environment entries that let a child started now join
// t's timing (see Share); nil for a nil timer or one that shares no file.
func (t *Timer) Env() []string {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	file := t.file
	t.mu.Unlock()
	if file == "" {
		return nil
	}
	return []string{EnvFile + "=" + file, EnvStart + "=" + strconv.FormatInt(time.Now().UnixNano(), 10)}
}

// StartedBy moves the start of t's first phase back to the time in
// EnvStart, when the environment has one earlier than that start (a
// benchmark sets it just before it starts the command), and closes that
// phase as name: exec and package initialisation are then counted as a
// child's are. EnvStart is removed from the environment. It reports
// whether it did.
func (t *Timer) StartedBy(name string) bool {
	start := os.Getenv(EnvStart)
	os.Unsetenv(EnvStart)
	ns, err := strconv.ParseInt(start, 10, 64)
	if t == nil || err != nil || ns <= 0 {
		return false
	}
	t.mu.Lock()
	at := time.Unix(0, ns)
	ok := at.Before(t.origin) && t.origin.Equal(t.last)
	if ok {
		t.origin, t.last = at, at
	}
	t.mu.Unlock()
	if ok {
		t.Mark(name)
	}
	return ok
}

// FromEnv returns the timer of a child that its parent asked to time (see
// Env), or nil. Its first phase starts when the parent started it. The
// variables are removed from the environment: the child's own children
// (the runtime, a health checker) do not time themselves into the file.
func FromEnv(proc string) *Timer {
	file := os.Getenv(EnvFile)
	if file == "" {
		return nil
	}
	start := os.Getenv(EnvStart)
	os.Unsetenv(EnvFile)
	os.Unsetenv(EnvStart)
	t := New(proc)
	t.file = file
	if ns, err := strconv.ParseInt(start, 10, 64); err == nil && ns > 0 {
		if start := time.Unix(0, ns); start.Before(t.last) {
			t.origin, t.last = start, start
		}
	}
	return t
}

// Flush appends the records not yet flushed to the file FromEnv named,
// one line each: PROC START_NS DURATION_NS NAME. It does nothing for a
// timer that is not a child's.
func (t *Timer) Flush() error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.file == "" || t.flushed == len(t.records) {
		return nil
	}
	var b strings.Builder
	for _, r := range t.records[t.flushed:] {
		fmt.Fprintf(&b, "%s %d %d %s\n", r.Proc, r.Start.UnixNano(), int64(r.Dur), r.Name)
	}
	f, err := os.OpenFile(t.file, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("phase timings: %w", err)
	}
	// One write: lines of two writers never interleave.
	_, err = f.WriteString(b.String())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("phase timings: %w", err)
	}
	t.flushed = len(t.records)
	return nil
}

// Collect adds the records children appended to the shared file (see
// Share and Flush) to t's. Lines that do not parse are skipped.
func (t *Timer) Collect() error {
	if t == nil || t.file == "" {
		return nil
	}
	f, err := os.Open(t.file)
	if err != nil {
		return fmt.Errorf("phase timings: %w", err)
	}
	defer f.Close()
	var got []Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.SplitN(sc.Text(), " ", 4)
		if len(fields) != 4 {
			continue
		}
		start, err1 := strconv.ParseInt(fields[1], 10, 64)
		dur, err2 := strconv.ParseInt(fields[2], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		got = append(got, Record{Proc: fields[0], Name: fields[3], Start: time.Unix(0, start), Dur: time.Duration(dur)})
	}
	t.mu.Lock()
	t.records = append(t.records, got...)
	t.mu.Unlock()
	return sc.Err()
}

// Write prints the phases in the order they began, one per line, then the
// total from the timer's start to the last phase's end:
//
//	phase  START_MS  DURATION_MS  PROC  NAME
//	phase  total     DURATION_MS
func (t *Timer) Write(w io.Writer) error {
	if t == nil {
		return nil
	}
	recs := t.Records()
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Start.Before(recs[j].Start) })
	bw := bufio.NewWriter(w)
	end := t.origin
	for _, r := range recs {
		fmt.Fprintf(bw, "phase %9.3f %9.3f  %-8s %s\n", ms(r.Start.Sub(t.origin)), ms(r.Dur), r.Proc, r.Name)
		if e := r.Start.Add(r.Dur); e.After(end) {
			end = e
		}
	}
	fmt.Fprintf(bw, "phase %9s %9.3f\n", "total", ms(end.Sub(t.origin)))
	return bw.Flush()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
