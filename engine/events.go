package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/stockade/stockade/internal/flock"
)

// The events log: one JSON line per container transition, appended by
// every stockade process (the CLI, the monitors), under Root. When it
// grows past EventsMaxSize it becomes events.log.1 (the one before is
// dropped), so at most about twice that is kept.
const (
	eventsFile = "events.log"
	// EventsMaxSize is the size at which the events log is rotated.
	EventsMaxSize = 1 << 20
)

// Event is one entry of the events log, in the shape of docker's
// `events --format json`.
type Event struct {
	Type   string     `json:"Type"`
	Action string     `json:"Action"`
	Actor  EventActor `json:"Actor"`
	// Time is in seconds since the epoch, TimeNano in nanoseconds.
	Time     int64 `json:"time"`
	TimeNano int64 `json:"timeNano"`
}

// EventActor is what an event is about: a container's id, and its name
// and image among the attributes (exitCode for die, signal for kill).
type EventActor struct {
	ID         string            `json:"ID"`
	Attributes map[string]string `json:"Attributes"`
}

// When returns the event's time.
func (ev Event) When() time.Time { return time.Unix(0, ev.TimeNano).UTC() }

// EventsPath is the events log of this engine's data root.
func (e *Engine) EventsPath() string { return filepath.Join(e.Root, eventsFile) }

// Event appends a container event to the events log. Failures are
// logged, never returned: an event cannot fail what it reports.
func (e *Engine) Event(ctx context.Context, c *Container, action string, attrs map[string]string) {
	a := map[string]string{"name": c.Name, "image": c.Image}
	for k, v := range attrs {
		a[k] = v
	}
	now := time.Now()
	ev := Event{Type: "container", Action: action, Actor: EventActor{ID: c.ID, Attributes: a}, Time: now.Unix(), TimeNano: now.UnixNano()}
	if err := appendEvent(ctx, e.EventsPath(), ev, EventsMaxSize); err != nil {
		e.logger().Warn("events log", "error", err)
	}
}

// appendEvent writes ev as one line (one write(2) on an O_APPEND file)
// and rotates the file once it is larger than max, holding the exclusive
// lock of path+".lock" for both: the old file is at most one line longer
// than max.
func appendEvent(ctx context.Context, path string, ev Event, max int64) error {
	line, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	// One writer at a time, for the append and the rotation together: a
	// writer that appended to a file another one had just renamed, or
	// several appending between a size check and the rename, would grow
	// the old file past max.
	lock, err := flock.Acquire(ctx, path+".lock", flock.Exclusive)
	if err != nil {
		return err
	}
	defer lock.Close()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(line)
	st, serr := f.Stat()
	f.Close()
	if err != nil {
		return err
	}
	if serr != nil || st.Size() <= max {
		return serr
	}
	return os.Rename(path, path+".1")
}

// EventFilter selects events: by time (zero bounds are open) and by
// match, when set.
type EventFilter struct {
	Since, Until time.Time
	Match        func(Event) bool
}

func (f EventFilter) keep(ev Event) bool {
	t := ev.When()
	if !f.Since.IsZero() && t.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && t.After(f.Until) {
		return false
	}
	return f.Match == nil || f.Match(ev)
}

// Events calls fn for every logged event that f selects, oldest first.
// With follow, it then waits for new events until ctx ends or Until
// passes.
func (e *Engine) Events(ctx context.Context, f EventFilter, follow bool, fn func(Event) error) error {
	path := e.EventsPath()
	if _, err := readEvents(path+".1", 0, f, fn); err != nil {
		return err
	}
	off, err := readEvents(path, 0, f, fn)
	if err != nil || !follow {
		return err
	}
	for {
		if !f.Until.IsZero() && time.Now().After(f.Until) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
		if st, err := os.Stat(path); err == nil && st.Size() < off {
			off = 0 // rotated: the new file is read from its start
		}
		if off, err = readEvents(path, off, f, fn); err != nil {
			return err
		}
	}
}

// readEvents reads complete lines of path from off and returns the
// offset after the last one. A missing file has no events; a line that is
// not an event (a torn write of a crash) is skipped.
func readEvents(path string, off int64, f EventFilter, fn func(Event) error) (int64, error) {
	file, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return off, nil
	}
	if err != nil {
		return off, fmt.Errorf("events: %w", err)
	}
	defer file.Close()
	if _, err := file.Seek(off, io.SeekStart); err != nil {
		return off, fmt.Errorf("events: %w", err)
	}
	r := bufio.NewReader(file)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) == 0 || line[len(line)-1] != '\n' {
			if err == nil || errors.Is(err, io.EOF) {
				return off, nil
			}
			return off, fmt.Errorf("events: %w", err)
		}
		off += int64(len(line))
		var ev Event
		if json.Unmarshal(bytes.TrimSpace(line), &ev) != nil || ev.TimeNano == 0 {
			continue
		}
		if f.keep(ev) {
			if err := fn(ev); err != nil {
				return off, err
			}
		}
	}
}
