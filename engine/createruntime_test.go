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

// TestCreateRuntime: a fresh start is one create, no delete; a container
// the runtime still has (a crashed monitor's) is deleted and created again.
func TestCreateRuntime(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		left bool
		want string
	}{
		{false, "create c"},
		{true, "create c, delete c, create c"},
	} {
		rt := &leftoverRuntime{left: tt.left}
		e := &Engine{Runtime: rt}
		if err := e.createRuntime(ctx, "c", ociruntime.CreateOpts{}); err != nil {
			t.Errorf("left=%v: %v", tt.left, err)
		}
		if got := strings.Join(rt.calls, ", "); got != tt.want {
			t.Errorf("left=%v: calls %q, want %q", tt.left, got, tt.want)
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
