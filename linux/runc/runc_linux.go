package runc

import (
	"os"

	"golang.org/x/sys/unix"
)

// runcSupported reports whether runc can run here: on Linux it can.
func runcSupported() error { return nil }

// memFile returns an anonymous file in memory (memfd_create), which no
// file system journals: the runtime's log of one call needs no inode on
// the host's disk.
func memFile(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}
