package engine

import "golang.org/x/sys/unix"

// becomeSubreaper makes orphaned descendants (the container's init once
// runc exits) children of this process, so it can wait for them.
func becomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}
