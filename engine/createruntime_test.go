package engine

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/ociruntime"
)

// leftoverRuntime records Create and Delete calls; Create fails with
// ErrExists while a container of the id is left.
type leftoverRuntime struct {
	ociruntime.Runtime
	left  bool
	calls []string
}

func (r *leftoverRuntime) Create(_ context.Context, id string, _ ociruntime.CreateOpts) error {
	r.calls = append(r.calls, "create "+id)
	if r.left {
		return ociruntime.ErrExists
	}
	r.left = true
	return nil
}

func (r *leftoverRuntime) Delete(_ context.Context, id string, force bool) error {
	if !force {
		return errors.New("not forced")
	}
	r.calls = append(r.calls, "delete "+id)
	r.left = false
	return nil
}

// runLeftoverRuntime is leftoverRuntime that can also create and start in
// one call (ociruntime.Runner).
type runLeftoverRuntime struct{ leftoverRuntime }

func (r *runLeftoverRuntime) Run(_ context.Context, id string, _ ociruntime.CreateOpts) error {
	r.calls = append(r.calls, "run "+id)
	if r.left {
		return ociruntime.ErrExists
	}
	r.left = true
	return nil
}

// TestCreateRuntime: a fresh start is one create (or run), no delete; a
// container the runtime still has (a crashed monitor's) is deleted and
// created again. run uses Run only where the runtime has it.
func TestCreateRuntime(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		runner, run, left bool
		want              string
	}{
		{false, false, false, "create c"},
		{false, false, true, "create c, delete c, create c"},
		{false, true, false, "create c"},
		{true, false, false, "create c"},
		{true, true, false, "run c"},
		{true, true, true, "run c, delete c, run c"},
	} {
		lr := &runLeftoverRuntime{leftoverRuntime{left: tt.left}}
		e := &Engine{Runtime: &lr.leftoverRuntime}
		if tt.runner {
			e.Runtime = lr
		}
		if err := e.createRuntime(ctx, "c", ociruntime.CreateOpts{}, tt.run); err != nil {
			t.Errorf("%+v: %v", tt, err)
		}
		if got := strings.Join(lr.calls, ", "); got != tt.want {
			t.Errorf("%+v: calls %q, want %q", tt, got, tt.want)
		}
	}
}

// createdHook is a hook whose NeedsCreated answers need.
type createdHook struct {
	NopHook
	need bool
}

func (createdHook) Name() string                   { return "created" }
func (h createdHook) NeedsCreated(*Container) bool { return h.need }

// plainHook implements Hook without CreatedHook.
type plainHook struct{ createdHook }

func (plainHook) NeedsCreated() {} // not CreatedHook's method

// TestNeedsCreated: the one-call start is taken only when every hook says
// it has nothing to do between create and start; a hook that does not
// say is taken to need it.
func TestNeedsCreated(t *testing.T) {
	for _, tt := range []struct {
		name  string
		hooks []Hook
		want  bool
	}{
		{"no hooks", nil, false},
		{"nop hooks", []Hook{createdHook{}, createdHook{}}, false},
		{"one needs it", []Hook{createdHook{}, createdHook{need: true}}, true},
		{"one does not say", []Hook{createdHook{}, plainHook{}}, true},
	} {
		e := &Engine{Hooks: tt.hooks}
		if got := e.needsCreated(&Container{}); got != tt.want {
			t.Errorf("%s: needsCreated %v, want %v", tt.name, got, tt.want)
		}
	}
}

// stateRuntime answers State with pid 77 and counts the calls.
type stateRuntime struct {
	ociruntime.Runtime
	calls int
}

func (r *stateRuntime) State(_ context.Context, id string) (specs.State, error) {
	r.calls++
	return specs.State{ID: id, Pid: 77}, nil
}

// TestCreatedPid: the pid comes from the pid file the runtime wrote at
// create, without a runtime call; with no (or a bad) pid file, from the
// runtime's state.
func TestCreatedPid(t *testing.T) {
	ctx := context.Background()
	rt := &stateRuntime{}
	e := &Engine{StateDir: t.TempDir(), Runtime: rt}
	id := strings.Repeat("ab", 32)
	if err := os.MkdirAll(e.runDir(id), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		file      string // "" = none
		want      int
		wantCalls int
	}{
		{"4242", 4242, 0},
		{"", 77, 1},
		{"garbage", 77, 2},
	} {
		os.Remove(e.pidFilePath(id))
		if tt.file != "" {
			os.WriteFile(e.pidFilePath(id), []byte(tt.file), 0o600)
		}
		pid, err := e.createdPid(ctx, id)
		if err != nil || pid != tt.want || rt.calls != tt.wantCalls {
			t.Errorf("pid file %q: pid %d (%v), %d state calls; want %d, %d", tt.file, pid, err, rt.calls, tt.want, tt.wantCalls)
		}
	}
}
