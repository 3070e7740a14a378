package monitorio

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestLogWriterLinesAndRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := OpenLog(path, 400, 3)
	if err != nil {
		t.Fatal(err)
	}
	out := w.Stream("stdout")
	for i := 0; i < 20; i++ {
		fmt.Fprintf(out, "line %02d\n", i)
	}
	fmt.Fprint(w.Stream("stderr"), "partial")
	errw := w.Stream("stderr")
	fmt.Fprint(errw, "no newline")
	errw.Close()
	out.Close()
	w.Close()
	// Each file stays under the limit, and only 3 files exist.
	for _, p := range []string{path, path + ".1", path + ".2"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if st.Size() > 400 {
			t.Errorf("%s is %d bytes, over the 400 limit", p, st.Size())
		}
		data, _ := os.ReadFile(p)
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var e map[string]any
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Errorf("%s: not JSON: %q", p, line)
			}
			for _, k := range []string{"log", "stream", "time"} {
				if _, ok := e[k]; !ok {
					t.Errorf("%s: line lacks %q: %q", p, k, line)
				}
			}
		}
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf("a 4th file exists: %v", err)
	}
	var got []string
	err = ReadLog(context.Background(), path, LogOptions{Tail: 3}, func(e LogEntry) error {
		got = append(got, e.Stream+":"+e.Log)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"stdout:line 18\n", "stdout:line 19\n", "stderr:no newline"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("tail 3 = %q, want %q", got, want)
	}
}

func TestReadLogAllSinceAndLongLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := OpenLog(path, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	w.now = func() time.Time { n++; return base.Add(time.Duration(n) * time.Minute) }
	s := w.Stream("stdout")
	fmt.Fprintf(s, "a\nb\n%s\n", strings.Repeat("x", maxLogLine+10))
	s.Close()
	w.Close()
	var all []LogEntry
	ReadLog(context.Background(), path, LogOptions{Tail: -1}, func(e LogEntry) error { all = append(all, e); return nil })
	if len(all) != 4 || all[0].Log != "a\n" || len(all[2].Log) != maxLogLine || all[3].Log != "xxxxxxxxxx\n" {
		t.Fatalf("entries: %d %q", len(all), all[0].Log)
	}
	var since []LogEntry
	ReadLog(context.Background(), path, LogOptions{Tail: -1, Since: base.Add(2 * time.Minute)}, func(e LogEntry) error { since = append(since, e); return nil })
	if len(since) != 3 || since[0].Log != "b\n" {
		t.Errorf("since: %d entries", len(since))
	}
}

func TestReadLogFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := OpenLog(path, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	var done atomic.Bool
	go func() {
		s := w.Stream("stdout")
		for i := 0; i < 5; i++ {
			fmt.Fprintf(s, "tick %d\n", i)
			time.Sleep(20 * time.Millisecond)
		}
		done.Store(true)
	}()
	var got []string
	err = ReadLog(context.Background(), path, LogOptions{Tail: -1, Follow: true, Done: done.Load, Poll: 10 * time.Millisecond}, func(e LogEntry) error {
		got = append(got, e.Log)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || got[4] != "tick 4\n" {
		t.Errorf("followed %q", got)
	}
}

// ReadLog reads every rotated file, oldest first, whatever maxFiles the
// writer used.
func TestReadLogManyRotations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := OpenLog(path, 200, 30)
	if err != nil {
		t.Fatal(err)
	}
	s := w.Stream("stdout")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(s, "line %02d\n", i)
	}
	s.Close()
	w.Close()
	if _, err := os.Stat(path + ".10"); err != nil {
		t.Fatalf("expected 10+ rotated files: %v", err)
	}
	var got []string
	if err := ReadLog(context.Background(), path, LogOptions{Tail: -1}, func(e LogEntry) error {
		got = append(got, strings.TrimSpace(e.Log))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 40 || got[0] != "line 00" || got[39] != "line 39" {
		t.Errorf("read %d entries: first %q last %q", len(got), got[0], got[len(got)-1])
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("out of order at %d: %q after %q", i, got[i], got[i-1])
		}
	}
}
