package zfs

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"

	gozfs "github.com/mistifyio/go-zfs/v3"
)

// go-zfs covers creating, cloning, snapshotting, renaming, mounting,
// rolling back and destroying datasets, and is used for those. What it
// lacks is done here with the same CLI and the same error type: reading
// user properties of many datasets in one `zfs get` (tolerating names that
// do not exist), setting several properties in one `zfs set`, `zfs
// snapshot -o`, `zfs userspace` and `zpool sync`.

// run runs the zfs or zpool command with args and returns its standard
// output. A failure is returned as a *gozfs.Error, like go-zfs's own, so
// that both are classified by the same helpers.
func run(ctx context.Context, command string, args ...string) (string, error) {
	c := exec.CommandContext(ctx, command, args...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		return stdout.String(), &gozfs.Error{
			Err:    err,
			Debug:  command + " " + strings.Join(args, " "),
			Stderr: strings.TrimSpace(stderr.String()),
		}
	}
	return stdout.String(), nil
}

func zfsRun(ctx context.Context, args ...string) (string, error) { return run(ctx, "zfs", args...) }

// stderrOf returns the standard error of a failed zfs command.
func stderrOf(err error) string {
	var e *gozfs.Error
	if errors.As(err, &e) {
		return e.Stderr
	}
	return ""
}

// isNotExist reports whether a zfs command failed because a dataset or
// snapshot does not exist. (`zfs destroy` of a missing snapshot says it
// "could not find any snapshots to destroy".)
func isNotExist(err error) bool {
	s := stderrOf(err)
	return strings.Contains(s, "does not exist") || strings.Contains(s, "could not find any snapshots")
}

// isExists reports whether a zfs command failed because the name it was
// to create is taken.
func isExists(err error) bool { return strings.Contains(stderrOf(err), "already exists") }

// hasDependents reports whether a zfs destroy failed because a snapshot
// has clones.
func hasDependents(err error) bool {
	s := stderrOf(err)
	return strings.Contains(s, "dependent clones") || strings.Contains(s, "has dependent")
}

// onlyMissing reports whether every line a failed command printed on
// standard error says that a dataset does not exist: `zfs get` of several
// names prints the others and fails when one is missing.
func onlyMissing(err error) bool {
	var e *gozfs.Error
	if !errors.As(err, &e) {
		return false
	}
	var exit *exec.ExitError
	if !errors.As(e.Err, &exit) {
		return false
	}
	for _, l := range strings.Split(e.Stderr, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.Contains(l, "does not exist") {
			return false
		}
	}
	return true
}

// getProps reads the stockade user properties and the native properties
// of names (each a dataset or snapshot), and of all their descendants and
// snapshots when recursive. Names that do not exist are left out of the
// result.
func getProps(ctx context.Context, recursive bool, names ...string) (map[string]*dsState, error) {
	args := []string{"get", "-Hp", "-o", "name,property,value,source"}
	if recursive {
		args = append(args, "-r", "-t", "filesystem,snapshot")
	}
	props := append(append([]string{}, userProps...), nativeProps...)
	args = append(args, strings.Join(props, ","))
	args = append(args, names...)
	out, err := zfsRun(ctx, args...)
	if err != nil && !onlyMissing(err) {
		return nil, err
	}
	return parseGet(out)
}

// setProps sets several properties of one dataset or snapshot in one
// `zfs set`, which applies them in a single ioctl.
func setProps(ctx context.Context, name string, props [][2]string) error {
	if len(props) == 0 {
		return nil
	}
	args := []string{"set"}
	for _, p := range props {
		args = append(args, p[0]+"="+p[1])
	}
	_, err := zfsRun(ctx, append(args, name)...)
	return err
}
