package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestEventsAppendRead(t *testing.T) {
	ctx := context.Background()
	e := &Engine{Root: t.TempDir()}
	c := &Container{ID: "abc", Name: "web", Image: "img:1"}
	for _, a := range []string{"create", "start", "die", "destroy"} {
		e.Event(ctx, c, a, map[string]string{"exitCode": "0"})
	}
	var got []string
	err := e.Events(ctx, EventFilter{}, false, func(ev Event) error {
		got = append(got, ev.Action)
		if ev.Actor.ID != "abc" || ev.Actor.Attributes["name"] != "web" || ev.Actor.Attributes["image"] != "img:1" || ev.Type != "container" {
			t.Errorf("event %+v", ev)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[create start die destroy]" {
		t.Errorf("actions %v", got)
	}
	// A time window and a match.
	future := EventFilter{Since: time.Now().Add(time.Hour)}
	n := 0
	e.Events(ctx, future, false, func(Event) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d events after an hour from now", n)
	}
	only := EventFilter{Match: func(ev Event) bool { return ev.Action == "die" }}
	n = 0
	e.Events(ctx, only, false, func(Event) error { n++; return nil })
	if n != 1 {
		t.Errorf("%d die events, want 1", n)
	}
}

func TestEventsRotateAndTornLine(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, eventsFile)
	// A torn line (a crash mid-write) is skipped.
	os.WriteFile(path, []byte(`{"Type":"container","Act`+"\n"), 0o600)
	const max = 2000
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				now := time.Now()
				ev := Event{Type: "container", Action: fmt.Sprintf("a%d-%d", w, i), Time: now.Unix(), TimeNano: now.UnixNano()}
				if err := appendEvent(ctx, path, ev, max); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for _, p := range []string{path, path + ".1"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		// At most one line past max: the one whose append made it rotate.
		if st.Size() > max+120 {
			t.Errorf("%s is %d bytes, bound %d and one line", p, st.Size(), max)
		}
	}
	e := &Engine{Root: dir}
	seen := map[string]bool{}
	if err := e.Events(ctx, EventFilter{}, false, func(ev Event) error {
		if seen[ev.Action] {
			t.Errorf("%s read twice", ev.Action)
		}
		seen[ev.Action] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) == 0 || len(seen) >= 200 {
		t.Errorf("%d events kept of 200 written with rotation", len(seen))
	}
	// The newest is always kept.
	last := false
	for a := range seen {
		if a == "a0-49" || a == "a1-49" || a == "a2-49" || a == "a3-49" {
			last = true
		}
	}
	if !last {
		t.Error("no writer's last event was kept")
	}
}

func TestEventsFollow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e := &Engine{Root: t.TempDir()}
	c := &Container{ID: "abc", Name: "web"}
	e.Event(ctx, c, "create", nil)
	got := make(chan string, 4)
	done := make(chan error, 1)
	go func() {
		done <- e.Events(ctx, EventFilter{}, true, func(ev Event) error {
			got <- ev.Action
			if ev.Action == "start" {
				cancel()
			}
			return nil
		})
	}()
	if a := <-got; a != "create" {
		t.Fatalf("first %s", a)
	}
	e.Event(context.Background(), c, "start", nil)
	select {
	case a := <-got:
		if a != "start" {
			t.Fatalf("followed %s", a)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("follow did not see the new event")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// BenchmarkEventAppend is the cost of one event, which every create,
// start, exit and removal pays.
func BenchmarkEventAppend(b *testing.B) {
	ctx := context.Background()
	e := &Engine{Root: b.TempDir()}
	c := &Container{ID: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Name: "bench", Image: "busybox:latest"}
	for b.Loop() {
		e.Event(ctx, c, "start", nil)
	}
}
