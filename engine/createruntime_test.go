package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

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
