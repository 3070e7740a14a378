package engine

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// procctl(2) constants from sys/procctl.h and sys/wait.h.
const (
	pPid            = 0 // P_PID
	procReapAcquire = 2 // PROC_REAP_ACQUIRE
)

// becomeSubreaper makes this process the reaper of its descendants with
// procctl(PROC_REAP_ACQUIRE), so orphans are reparented to it.
func becomeSubreaper() error {
	_, _, errno := unix.Syscall6(unix.SYS_PROCCTL, pPid, uintptr(unix.Getpid()), procReapAcquire, uintptr(unsafe.Pointer(nil)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
