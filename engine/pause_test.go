package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/metadata"
	"github.com/stockade/stockade/ociruntime"
)

// signalRuntime stands for a runtime without a freezer (the jail
// runtime, whose FreeBSD kernel cannot run here): the container runs, and
// each Kill is recorded with its all flag.
type signalRuntime struct {
	ociruntime.Runtime
	mu    sync.Mutex
	calls []string
}

func (r *signalRuntime) State(context.Context, string) (specs.State, error) {
	return specs.State{Status: "running", Pid: 4242}, nil
}

func (r *signalRuntime) Kill(_ context.Context, _ string, sig syscall.Signal, all bool) error {
	r.record(fmt.Sprintf("kill %d all=%v", sig, all))
	return nil
}

func (r *signalRuntime) record(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}

func (r *signalRuntime) took() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.calls
	r.calls = nil
	return out
}

// freezerRuntime has runc's freezer.
type freezerRuntime struct{ signalRuntime }

func (r *freezerRuntime) Pause(context.Context, string) error  { r.record("pause"); return nil }
func (r *freezerRuntime) Resume(context.Context, string) error { r.record("resume"); return nil }

// runningEngine is an engine over a fresh store holding one running
// container, "p".
func runningEngine(t *testing.T, rt ociruntime.Runtime) *Engine {
	t.Helper()
	ctx := context.Background()
	db, err := metadata.Open(ctx, filepath.Join(t.TempDir(), metadata.FileName))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := NewID()
	c := &Container{ID: id, Name: "p", State: State{Status: StatusRunning, Pid: 4242}}
	if err := db.Update(ctx, func(tx *bolt.Tx) error { return metadata.PutJSON(tx, metadata.BucketContainers, id, c) }); err != nil {
		t.Fatal(err)
	}
	return &Engine{Root: t.TempDir(), StateDir: t.TempDir(), DB: db, Runtime: rt}
}

func TestPauseWithSignals(t *testing.T) {
	ctx := context.Background()
	rt := &signalRuntime{}
	e := runningEngine(t, rt)
	if err := e.Pause(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	stop, cont := fmt.Sprintf("kill %d all=true", syscall.SIGSTOP), fmt.Sprintf("kill %d all=true", syscall.SIGCONT)
	if got := rt.took(); fmt.Sprint(got) != "["+stop+"]" {
		t.Errorf("pause: %q, want SIGSTOP to every process", got)
	}
	if c, _ := e.Get(ctx, "p"); !c.State.Paused || !strings.HasSuffix(c.State.Summary(c.State.StartedAt), " (Paused)") {
		t.Errorf("record after pause: %+v", c.State)
	}
	if err := e.Pause(ctx, "p"); err == nil {
		t.Error("a second pause succeeded")
	}
	if err := e.Unpause(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if got := rt.took(); fmt.Sprint(got) != "["+cont+"]" {
		t.Errorf("unpause: %q, want SIGCONT to every process", got)
	}
	if err := e.Unpause(ctx, "p"); err == nil {
		t.Error("unpause of a running container succeeded")
	}
	var actions []string
	e.Events(ctx, EventFilter{}, false, func(ev Event) error { actions = append(actions, ev.Action); return nil })
	if fmt.Sprint(actions) != "[pause unpause]" {
		t.Errorf("events %q", actions)
	}
}

func TestPauseWithFreezer(t *testing.T) {
	ctx := context.Background()
	rt := &freezerRuntime{}
	e := runningEngine(t, rt)
	if err := e.Pause(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if got := rt.took(); fmt.Sprint(got) != "[pause]" {
		t.Errorf("pause through the freezer: %q", got)
	}
	// Stop thaws a paused container before it signals it.
	c, _ := e.Get(ctx, "p")
	e.thawForStop(ctx, c)
	if got := rt.took(); fmt.Sprint(got) != "[resume]" {
		t.Errorf("thaw before stop: %q", got)
	}
	if c, _ := e.Get(ctx, "p"); c.State.Paused {
		t.Error("still paused after the thaw")
	}
}
