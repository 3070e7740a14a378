package phase

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMarkWithoutTimer(t *testing.T) {
	ctx := context.Background()
	Mark(ctx, "nothing") // must not panic
	if From(ctx) != nil {
		t.Fatal("From of a bare context is not nil")
	}
	var nilT *Timer
	nilT.Mark("x")
	nilT.Skip()
	if err := nilT.Flush(); err != nil {
		t.Fatal(err)
	}
	if nilT.Env() != nil || nilT.Records() != nil {
		t.Fatal("a nil timer has records or environment")
	}
}

func TestMarksArePhases(t *testing.T) {
	tm := New("cli")
	ctx := With(context.Background(), tm)
	time.Sleep(2 * time.Millisecond)
	Mark(ctx, "one")
	Mark(ctx, "two")
	tm.Skip()
	Mark(ctx, "three")
	recs := tm.Records()
	if len(recs) != 3 {
		t.Fatalf("got %d records, want 3", len(recs))
	}
	for i, want := range []string{"one", "two", "three"} {
		if recs[i].Name != want || recs[i].Proc != "cli" {
			t.Errorf("record %d = %+v, want cli/%s", i, recs[i], want)
		}
	}
	if recs[0].Dur < 2*time.Millisecond {
		t.Errorf("first phase took %v, want >= 2ms", recs[0].Dur)
	}
	// Each phase starts where the previous ended (or later, after Skip).
	if !recs[1].Start.Equal(recs[0].Start.Add(recs[0].Dur)) {
		t.Errorf("phase two starts at %v, not at the end of phase one", recs[1].Start)
	}
	if recs[2].Start.Before(recs[1].Start.Add(recs[1].Dur)) {
		t.Error("phase three starts before phase two ended")
	}
}

func TestChildThroughFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "phases")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	parent := New("cli")
	if parent.Env() != nil {
		t.Fatal("Env of a timer that shares no file is not nil")
	}
	parent.Share(file)
	parent.Mark("spawn")
	for _, kv := range parent.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	child := FromEnv("monitor")
	if child == nil {
		t.Fatal("FromEnv: nil with the parent's environment set")
	}
	if os.Getenv(EnvFile) != "" {
		t.Error("FromEnv left the variable for the child's own children")
	}
	child.Mark("exec and init")
	child.Mark("runtime create")
	if err := child.Flush(); err != nil {
		t.Fatal(err)
	}
	child.Mark("wait")
	if err := child.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := child.Flush(); err != nil { // nothing new: nothing written
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n != 3 {
		t.Fatalf("file has %d lines, want 3:\n%s", n, data)
	}
	os.WriteFile(file, append(data, "garbage line\n"...), 0o600)
	if err := parent.Collect(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := parent.Write(&out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{"cli spawn", "monitor exec and init", "monitor runtime create", "monitor wait"}
	if len(lines) != len(want)+1 {
		t.Fatalf("output has %d lines, want %d:\n%s", len(lines), len(want)+1, out.String())
	}
	for i, w := range want {
		f := strings.Fields(lines[i])
		if got := strings.Join(f[3:], " "); f[0] != "phase" || got != w {
			t.Errorf("line %d = %q, want phase ... %s", i, lines[i], w)
		}
	}
	if f := strings.Fields(lines[len(lines)-1]); f[1] != "total" {
		t.Errorf("last line = %q, want the total", lines[len(lines)-1])
	}
}

func TestFromEnvUnset(t *testing.T) {
	t.Setenv(EnvFile, "")
	if FromEnv("monitor") != nil {
		t.Fatal("FromEnv without the variable returned a timer")
	}
}

// BenchmarkMarkOff is what a mark costs when nothing is timed: a context
// lookup (the runtime's contexts carry a few values).
func BenchmarkMarkOff(b *testing.B) {
	type key struct{}
	ctx := context.WithValue(context.WithValue(context.Background(), key{}, 1), &b, 2)
	b.ReportAllocs()
	for b.Loop() {
		Mark(ctx, "create nmount")
	}
}

// BenchmarkMarkOn is what a mark costs when the phases are timed: the
// clock, the lock and the record (a timer per 50 marks, as many as a
// container's lifecycle makes).
func BenchmarkMarkOn(b *testing.B) {
	var ctx context.Context
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if i%50 == 0 {
			ctx = With(context.Background(), New("bench"))
		}
		i++
		Mark(ctx, "create nmount")
	}
}

// TestStartedBy: a start in the environment earlier than the timer's
// becomes the start of its first phase, named as asked, and leaves the
// environment; a missing, malformed or later start changes nothing.
func TestStartedBy(t *testing.T) {
	for _, tt := range []struct {
		name, env string
		want      bool
	}{
		{"earlier", strconvNs(time.Now().Add(-50 * time.Millisecond)), true},
		{"unset", "", false},
		{"malformed", "soon", false},
		{"later", strconvNs(time.Now().Add(time.Hour)), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvStart, tt.env)
			tm := New("cli")
			if got := tm.StartedBy("exec"); got != tt.want {
				t.Fatalf("StartedBy = %v, want %v", got, tt.want)
			}
			if _, set := os.LookupEnv(EnvStart); set {
				t.Errorf("%s is still set", EnvStart)
			}
			recs := tm.Records()
			if !tt.want {
				if len(recs) != 0 {
					t.Errorf("records %+v, want none", recs)
				}
				return
			}
			if len(recs) != 1 || recs[0].Name != "exec" || recs[0].Dur < 50*time.Millisecond {
				t.Errorf("records %+v, want one 'exec' of >= 50ms", recs)
			}
		})
	}
}

func strconvNs(at time.Time) string { return strconv.FormatInt(at.UnixNano(), 10) }
