//go:build freebsd

package jail

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
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
	ready := -1
	if err := json.Unmarshal([]byte(data), &plan); err != nil {
		fmt.Fprintf(os.Stderr, "stockade-runtime init: bad plan: %v\n", err)
		os.Exit(126)
	}
	ready = 3 + plan.ExtraFiles
	unix.CloseOnExec(ready)
	path, fifo, err := prepare(&plan)
	if err != nil {
		msg, _ := json.Marshal(ReadyMessage{Error: err.Error()})
		unix.Write(ready, msg)
		os.Exit(126)
	}
	msg, _ := json.Marshal(ReadyMessage{})
	unix.Write(ready, msg)
	unix.Close(ready)
	if fifo >= 0 {
		var b [1]byte
		for {
			_, err := unix.Read(fifo, b[:])
			if err != unix.EINTR {
				break
			}
		}
		unix.Close(fifo)
	}
	for fd := 3 + plan.ExtraFiles; fd < 1024; fd++ {
		unix.CloseOnExec(fd)
	}
	err = unix.Exec(path, plan.Args, plan.Env)
	fmt.Fprintf(os.Stderr, "stockade-runtime init: exec %s: %v\n", plan.Args[0], err)
	os.Exit(127)
}

// prepare does everything up to the wait: fifo, terminal, attach, cwd,
// credentials, umask, rlimits, program lookup.
func prepare(p *InitPlan) (string, int, error) {
	if err := p.Validate(); err != nil {
		return "", -1, err
	}
	fifo := -1
	if p.Fifo != "" {
		fd, err := unix.Open(p.Fifo, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", -1, fmt.Errorf("exec fifo: %w", err)
		}
		fifo = fd
	}
	if p.Terminal {
		if err := setupTerminal(p); err != nil {
			return "", -1, fmt.Errorf("terminal: %w", err)
		}
	}
	if _, _, e := unix.Syscall(unix.SYS_JAIL_ATTACH, uintptr(p.JID), 0, 0); e != 0 {
		return "", -1, fmt.Errorf("jail_attach %d: %w", p.JID, e)
	}
	if err := unix.Chdir(p.Cwd); err != nil {
		return "", -1, fmt.Errorf("chdir %s: %w", p.Cwd, err)
	}
	groups := make([]int, len(p.Groups))
	for i, g := range p.Groups {
		groups[i] = int(g)
	}
	if err := unix.Setgroups(groups); err != nil {
		return "", -1, fmt.Errorf("setgroups: %w", err)
	}
	if err := unix.Setgid(int(p.GID)); err != nil {
		return "", -1, fmt.Errorf("setgid %d: %w", p.GID, err)
	}
	for _, rl := range p.Rlimits {
		lim := unix.Rlimit{Cur: int64(rl.Soft), Max: int64(rl.Hard)}
		if err := unix.Setrlimit(rl.Resource, &lim); err != nil {
			return "", -1, fmt.Errorf("setrlimit %d: %w", rl.Resource, err)
		}
	}
	if err := unix.Setuid(int(p.UID)); err != nil {
		return "", -1, fmt.Errorf("setuid %d: %w", p.UID, err)
	}
	if p.Umask != nil {
		unix.Umask(int(*p.Umask))
	}
	path, err := lookPath(p.Args[0], p.Env)
	if err != nil {
		return "", -1, err
	}
	return path, fifo, nil
}

// lookPath finds the program as execvp would, with the process's PATH.
func lookPath(arg0 string, env []string) (string, error) {
	if strings.Contains(arg0, "/") {
		if err := unix.Access(arg0, unix.X_OK); err != nil {
			return "", fmt.Errorf("%s: %w", arg0, err)
		}
		return arg0, nil
	}
	path := "/usr/bin:/bin:/usr/sbin:/sbin:/usr/local/bin:/usr/local/sbin"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		full := filepath.Join(dir, arg0)
		var st unix.Stat_t
		if unix.Stat(full, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && unix.Access(full, unix.X_OK) == nil {
			return full, nil
		}
	}
	return "", fmt.Errorf("%s: executable file not found in $PATH", arg0)
}

// setupTerminal opens a pseudo-terminal, sends its master over the
// console socket, applies the console size, and makes the slave the
// controlling terminal and standard streams of a new session.
func setupTerminal(p *InitPlan) error {
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
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
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
