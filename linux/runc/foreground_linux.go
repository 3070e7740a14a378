package runc

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// startWatch waits for a foreground runc to write its pid file (the
// container's process runs) or to end before that, without polling: an
// inotify watch on the pid file's directory, made before runc starts,
// and a pidfd of runc.
type startWatch struct {
	fd int
	// closeFD closes fd (unix.Close; a test's own to hold it).
	closeFD func(int) error
}

func newStartWatch(dir string) (*startWatch, error) {
	// pidfd_open is Linux 5.3's: without it (or inotify) the caller runs
	// runc detached instead.
	pfd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open: %v: %w", err, errors.ErrUnsupported)
	}
	unix.Close(pfd)
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	// runc writes the pid file under a temporary name and renames it.
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_MOVED_TO|unix.IN_CLOSE_WRITE); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inotify on %s: %w", dir, err)
	}
	return &startWatch{fd: fd, closeFD: unix.Close}, nil
}

// close closes the inotify descriptor in the background. Closing an
// inotify instance waits until the kernel has freed its watches (an
// SRCU grace period behind fsnotify's reaper): 5-15 ms of every
// foreground start on the test host, after runc had written the pid
// file, which the container's start need not wait for. Nothing else
// uses the descriptor's number until it is closed.
func (w *startWatch) close() { go w.closeFD(w.fd) }

// wait returns true once pidFile holds a pid, false (and no error) when
// the process pid ended without it, and an error when ctx ended or the
// waiting failed. It does not reap pid.
func (w *startWatch) wait(ctx context.Context, pid int, pidFile string) (bool, error) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return false, fmt.Errorf("pidfd of runc: %w", err)
	}
	defer unix.Close(pidfd)
	buf := make([]byte, 4096)
	for {
		if written(pidFile) {
			return true, nil
		}
		fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}, {Fd: int32(pidfd), Events: unix.POLLIN}}
		// The timeout only looks at ctx now and then.
		n, err := unix.Poll(fds, 100)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("poll: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if n == 0 {
			continue
		}
		if fds[1].Revents != 0 {
			// runc ended; it may have written the file just before.
			return written(pidFile), nil
		}
		drainEvents(w.fd, buf)
	}
}

// drainEvents reads what the inotify descriptor has; the caller looks at
// the file itself afterwards, so the events only wake it.
func drainEvents(fd int, buf []byte) {
	for {
		if n, err := unix.Read(fd, buf); n <= 0 || err != nil {
			return
		}
	}
}

// written reports whether path holds a pid (runc renames it into place
// complete, but a file of the same name left by someone else is read
// too: it must hold a number).
func written(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return false
	}
	for _, b := range data {
		if (b < '0' || b > '9') && b != '\n' {
			return false
		}
	}
	return true
}
