package runc

import (
	"context"
	"errors"
	"os/exec"

	"github.com/stockade/stockade/linux/runcstate"
)

// direct does op on container id from runc's state directory without
// running runc (package runcstate) when the binary is runc 1.1 and
// runcstate is sure of the work, and tells whether it did; err is a
// failure after the work began.
func (r *Runtime) direct(ctx context.Context, op, id string, do func(*runcstate.Container) error) (done bool, err error) {
	if r.root == "" {
		return false, nil
	}
	path, err := exec.LookPath(r.binary)
	if err != nil {
		return false, nil
	}
	c, err := runcstate.Open(ctx, r.root, id, path)
	if err != nil {
		return false, nil
	}
	if err := do(c); errors.Is(err, runcstate.ErrFallBack) {
		return false, nil
	} else if err != nil {
		return true, r.errorf(op, id, err, "%v", err)
	}
	return true, nil
}
