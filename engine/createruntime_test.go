package engine

import (
	"context"
	"errors"
	"fmt"
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

// fgLeftoverRuntime is runLeftoverRuntime that can also run in the
// foreground (ociruntime.ForegroundRunner), or says it cannot here.
type fgLeftoverRuntime struct {
	runLeftoverRuntime
	unsupported bool
}

func (r *fgLeftoverRuntime) RunForeground(_ context.Context, id string, _ ociruntime.CreateOpts) (int, error) {
	if r.unsupported {
		return 0, fmt.Errorf("not here: %w", errors.ErrUnsupported)
	}
	r.calls = append(r.calls, "run-fg "+id)
	if r.left {
		return 0, ociruntime.ErrExists
	}
	r.left = true
	return 42, nil
}

func (r *fgLeftoverRuntime) Holds(string) bool { return r.left }

// TestCreateRuntime: a fresh start is one create (or run), no delete; a
// container the runtime still has (a crashed monitor's) is deleted and
// created again. A mode is used only where the runtime has it, else the
// next simpler one; only a foreground run returns a runtime's pid.
func TestCreateRuntime(t *testing.T) {
	ctx := context.Background()
	const (
		plain = iota
		runner
		foreground
		fgUnsupported
	)
	for _, tt := range []struct {
		runtime int
		mode    startMode
		left    bool
		want    string
		wantPid int
	}{
		{plain, createOnly, false, "create c", 0},
		{plain, createOnly, true, "create c, delete c, create c", 0},
		{plain, runDetached, false, "create c", 0},
		{plain, runForeground, false, "create c", 0},
		{runner, createOnly, false, "create c", 0},
		{runner, runDetached, false, "run c", 0},
		{runner, runDetached, true, "run c, delete c, run c", 0},
		{runner, runForeground, false, "run c", 0},
		{foreground, runDetached, false, "run c", 0},
		{foreground, runForeground, false, "run-fg c", 42},
		{foreground, runForeground, true, "run-fg c, delete c, run-fg c", 42},
		{fgUnsupported, runForeground, false, "run c", 0},
	} {
		fr := &fgLeftoverRuntime{runLeftoverRuntime: runLeftoverRuntime{leftoverRuntime{left: tt.left}}, unsupported: tt.runtime == fgUnsupported}
		lr := &fr.runLeftoverRuntime
		e := &Engine{Runtime: &lr.leftoverRuntime}
		switch tt.runtime {
		case runner:
			e.Runtime = lr
		case foreground, fgUnsupported:
			e.Runtime = fr
		}
		pid, err := e.createRuntime(ctx, "c", ociruntime.CreateOpts{}, tt.mode)
		if err != nil {
			t.Errorf("%+v: %v", tt, err)
		}
		if got := strings.Join(lr.calls, ", "); got != tt.want {
			t.Errorf("%+v: calls %q, want %q", tt, got, tt.want)
		}
		if pid != tt.wantPid {
			t.Errorf("%+v: runtime pid %d, want %d", tt, pid, tt.wantPid)
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
