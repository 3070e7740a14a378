package engine

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/freebsdabi"
)

// becomeSubreaper makes this process the reaper of its descendants with
// procctl(PROC_REAP_ACQUIRE), so orphans are reparented to it.
func becomeSubreaper() error {
	_, _, errno := unix.Syscall6(unix.SYS_PROCCTL, freebsdabi.PPid, uintptr(unix.Getpid()), freebsdabi.ProcReapAcquire, uintptr(unsafe.Pointer(nil)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
