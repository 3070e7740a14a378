package runc

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"

	"github.com/stockade/stockade/linux/runcstate"
)

// direct does op on container id from runc's state directory without
// running runc (package runcstate) when the binary is runc 1.1 and
// runcstate is sure of the work, and tells whether it did; err is a
// failure after the work began. The version of the binary is remembered
// beside its root, in runc-version.json (as stockade-runtime does).
func (r *Runtime) direct(ctx context.Context, op, id string, do func(*runcstate.Container) error) (done bool, err error) {
	if r.root == "" || runcstate.Disabled() {
		return false, nil
	}
	// A container runc 1.1 made first, then the binary's version.
	c, err := runcstate.Load(r.root, id)
	if err != nil {
		return false, nil
	}
	path, err := exec.LookPath(r.binary)
	if err != nil {
		return false, nil
	}
	version, err := runcstate.CachedVersion(ctx, path, filepath.Join(filepath.Dir(r.root), "runc-version.json"))
	if err != nil || !runcstate.Supported(version) {
		return false, nil
	}
	if err := do(c); errors.Is(err, runcstate.ErrFallBack) {
		return false, nil
	} else if err != nil {
		return true, r.errorf(op, id, err, "%v", err)
	}
	return true, nil
}
