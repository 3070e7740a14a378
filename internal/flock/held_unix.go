//go:build linux || freebsd || darwin || netbsd || openbsd || dragonfly

package flock

import (
	"errors"
	"os"
	"syscall"
)

func held(path string) (bool, error) {
	var fd int
	for {
		var err error
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOCTTY, 0)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EINTR) {
			return false, &os.PathError{Op: "open", Path: path, Err: err}
		}
	}
	defer syscall.Close(fd)
	for {
		err := syscall.Flock(fd, syscall.LOCK_SH|syscall.LOCK_NB)
		switch {
		case err == nil:
			return false, nil
		case errors.Is(err, syscall.EWOULDBLOCK):
			return true, nil
		case !errors.Is(err, syscall.EINTR):
			return false, &os.PathError{Op: "flock shared", Path: path, Err: err}
		}
	}
}
