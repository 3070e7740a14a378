package monitorio

import (
	"os"

	"golang.org/x/sys/unix"
)

// ExitCode is the exit code of a process that ended with ws: its exit
// status, or 128+signal when a signal ended it. ok is false while the
// process has not ended (stopped, continued).
func ExitCode(ws unix.WaitStatus) (code int, ok bool) {
	switch {
	case ws.Exited():
		return ws.ExitStatus(), true
	case ws.Signaled():
		return 128 + int(ws.Signal()), true
	}
	return 0, false
}

// SetTerminalSize sets a terminal's window size. It leaves the file's
// mode alone (f.Fd would make a pollable file blocking).
func SetTerminalSize(f *os.File, rows, cols uint16) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioerr error
	if err := rc.Control(func(fd uintptr) {
		ioerr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	}); err != nil {
		return err
	}
	return ioerr
}
