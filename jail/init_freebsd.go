//go:build freebsd

package jail

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/freebsdabi"
)

// RunInit is the init helper: it carries out the InitPlan found in its
// environment (see InitPlan) and executes the container's program. It
// returns only on failure, after reporting it.
func RunInit() {
	data := os.Getenv(InitEnv)
	os.Unsetenv(InitEnv)
	var plan InitPlan
	if err := json.Unmarshal([]byte(data), &plan); err != nil {
		fmt.Fprintf(os.Stderr, "stockade-runtime init: bad plan: %v\n", err)
		os.Exit(initExitPrepare)
	}
	sys := freebsdInit{readyFd: -1, fdLimit: 1 << 16}
	if !plan.InPlace {
		sys.readyFd = 3 + plan.ExtraFiles
		unix.CloseOnExec(sys.readyFd)
	}
	// Before the plan's rlimits may lower it: the highest descriptor the
	// helper may hold, for close-on-exec without close_range(2).
	var nofile unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &nofile) == nil && nofile.Cur > 0 && nofile.Cur < 1<<20 {
		sys.fdLimit = int(nofile.Cur)
	}
	code, err := runInit(sys, &plan)
	if code == initExitExec || plan.InPlace {
		// A failure the runtime did not hear of on a ready descriptor.
		fmt.Fprintf(os.Stderr, "stockade-runtime init: %v\n", err)
	}
	os.Exit(code)
}

// freebsdInit is initSys made of FreeBSD system calls.
type freebsdInit struct {
	readyFd int
	fdLimit int
}

func (freebsdInit) setsid() error {
	_, err := unix.Setsid()
	return err
}

func (freebsdInit) closeFd(fd int) { unix.Close(fd) }

func (freebsdInit) openFifo(path string) (int, error) {
	return unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
}

func (freebsdInit) jailAttach(jid int) error {
	if _, _, e := unix.Syscall(unix.SYS_JAIL_ATTACH, uintptr(jid), 0, 0); e != 0 {
		return e
	}
	return nil
}

func (freebsdInit) chdir(dir string) error { return unix.Chdir(dir) }

func (freebsdInit) setgroups(gids []uint32) error {
	groups := make([]int, len(gids))
	for i, g := range gids {
		groups[i] = int(g)
	}
	return unix.Setgroups(groups)
}

func (freebsdInit) setgid(gid uint32) error { return unix.Setgid(int(gid)) }
func (freebsdInit) setuid(uid uint32) error { return unix.Setuid(int(uid)) }
func (freebsdInit) umask(mask uint32)       { unix.Umask(int(mask)) }

func (freebsdInit) setrlimit(rl Rlimit) error {
	return unix.Setrlimit(rl.Resource, &unix.Rlimit{Cur: int64(rl.Soft), Max: int64(rl.Hard)})
}

func (freebsdInit) lookPath(arg0 string, env []string) (string, error) { return lookPath(arg0, env) }

func (s freebsdInit) ready(msg []byte) {
	if s.readyFd < 0 {
		return
	}
	unix.Write(s.readyFd, msg)
	unix.Close(s.readyFd)
}

func (freebsdInit) waitFifo(fd int) {
	var b [1]byte
	for {
		if _, err := unix.Read(fd, b[:]); err != unix.EINTR {
			break
		}
	}
	unix.Close(fd)
}

func (s freebsdInit) closeOnExecFrom(from int) { markCloseOnExec(s, from, s.fdLimit) }

func (freebsdInit) closeRangeCloexec(from int) error {
	_, _, e := unix.Syscall(unix.SYS_CLOSE_RANGE, uintptr(from), uintptr(^uint32(0)), freebsdabi.CloseRangeCloexec)
	if e != 0 {
		return e
	}
	return nil
}

func (freebsdInit) setCloexec(fd int) error {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
	return err
}

func (freebsdInit) exec(path string, args, env []string) error { return unix.Exec(path, args, env) }

// terminal opens a pseudo-terminal, sends its master over the console
// socket, applies the console size, and makes the slave the controlling
// terminal of the session setsid made, and the standard streams.
func (freebsdInit) terminal(p *InitPlan) error {
	r1, _, e := unix.Syscall(unix.SYS_POSIX_OPENPT, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0, 0)
	if e != 0 {
		return fmt.Errorf("posix_openpt: %w", e)
	}
	master := int(r1)
	defer unix.Close(master)
	buf := make([]byte, 64)
	arg := freebsdabi.FiodgnameArg{Len: int32(len(buf)), Buf: &buf[0]}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(master), freebsdabi.FIODGNAME, uintptr(unsafe.Pointer(&arg))); e != 0 {
		return fmt.Errorf("ptsname: %w", e)
	}
	name := "/dev/" + cmsg(buf)
	if p.ConsoleSize != nil {
		ws := unix.Winsize{Row: uint16(p.ConsoleSize.Height), Col: uint16(p.ConsoleSize.Width)}
		if err := unix.IoctlSetWinsize(master, unix.TIOCSWINSZ, &ws); err != nil {
			return fmt.Errorf("console size: %w", err)
		}
	}
	slave, err := unix.Open(name, unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	// As grantpt(3) would for the process's user: the terminal is the
	// container user's (its group stays tty), so that it can reopen it.
	if err := unix.Fchown(slave, int(p.UID), -1); err != nil {
		return fmt.Errorf("chown %s: %w", name, err)
	}
	conn, err := net.Dial("unix", p.ConsoleSocket)
	if err != nil {
		return fmt.Errorf("console socket: %w", err)
	}
	defer conn.Close()
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return errors.New("console socket is not a unix socket")
	}
	if _, _, err := uc.WriteMsgUnix([]byte(name), unix.UnixRights(master), nil); err != nil {
		return fmt.Errorf("send the terminal master: %w", err)
	}
	// The process is a session leader already (prepareInit's setsid).
	if err := unix.IoctlSetInt(slave, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("controlling terminal: %w", err)
	}
	for fd := 0; fd < 3; fd++ {
		if err := unix.Dup2(slave, fd); err != nil {
			return fmt.Errorf("dup2: %w", err)
		}
	}
	if slave > 2 {
		unix.Close(slave)
	}
	return nil
}
