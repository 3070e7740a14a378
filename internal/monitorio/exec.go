package monitorio

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Inherit clears FD_CLOEXEC on fds, so that they stay open across the
// next execve, with their numbers.
func Inherit(fds ...int) error {
	for _, fd := range fds {
		if fd < 0 {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
			return fmt.Errorf("keep descriptor %d open across exec: %w", fd, err)
		}
	}
	return nil
}

// InheritedFile makes a pollable file of an inherited descriptor (so that
// read deadlines work on it): it sets the descriptor non-blocking first,
// and marks it close-on-exec again.
func InheritedFile(fd int, name string) (*os.File, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("%s descriptor %d: %w", name, fd, err)
	}
	unix.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), name), nil
}

// DupFD returns a new descriptor of c's open file (a file, connection or
// listener) that stays open across execve: FD_CLOEXEC is clear on it, and
// no finalizer closes it.
func DupFD(c syscall.Conn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(f uintptr) { fd, derr = unix.Dup(int(f)) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, fmt.Errorf("dup: %w", derr)
	}
	return fd, nil
}

// WithEnv returns environ with key set to value, and without the keys in
// drop.
func WithEnv(environ []string, key, value string, drop ...string) []string {
	out := make([]string, 0, len(environ)+1)
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if k == key || contains(drop, k) {
			continue
		}
		out = append(out, kv)
	}
	return append(out, key+"="+value)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
