package jail

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// initSys is the system as the init helper sees it. The FreeBSD one makes
// the system calls; tests record them, so the order of the steps, which
// matters for security, is checked on every OS.
type initSys interface {
	// openFifo opens the exec fifo read-write and returns its descriptor.
	openFifo(path string) (int, error)
	// setsid makes the process the leader of a new session, without a
	// controlling terminal, in a process group of its own.
	setsid() error
	// terminal opens a pseudo-terminal, sends its master over the plan's
	// console socket, applies the console size, and makes the slave the
	// controlling terminal (of the session setsid made) and the standard
	// streams.
	terminal(p *InitPlan) error
	jailAttach(jid int) error
	// closeFd closes a descriptor.
	closeFd(fd int)
	chdir(dir string) error
	setgroups(gids []uint32) error
	setgid(gid uint32) error
	setrlimit(rl Rlimit) error
	setuid(uid uint32) error
	umask(mask uint32)
	// lookPath finds the program as execvp(3) would, after the process
	// became the container's user inside the jail.
	lookPath(arg0 string, env []string) (string, error)
	// ready writes the ready message to the parent.
	ready(msg []byte)
	// waitFifo blocks until start writes a byte to the fifo, then closes it.
	waitFifo(fd int)
	// closeOnExecFrom marks every descriptor from fd on close-on-exec
	// (markCloseOnExec).
	closeOnExecFrom(fd int)
	// exec replaces the process; it returns only on failure.
	exec(path string, args, env []string) error
}

// Exit codes of the init helper when it fails: before the program could
// be started (reported to the runtime on the ready descriptor too), and
// when executing it failed.
const (
	initExitPrepare = 126
	initExitExec    = 127
)

// runInit carries out plan p, as InitPlan's doc says, over sys. It returns
// only on failure, with the helper's exit code.
//
// A plan run in place (InPlace) has no ready descriptor: its caller
// reports a failure on the standard error.
func runInit(sys initSys, p *InitPlan) (int, error) {
	path, fifo, err := prepareInit(sys, p)
	if !p.InPlace {
		var msg ReadyMessage
		if err != nil {
			msg.Error = err.Error()
		}
		data, _ := json.Marshal(msg)
		sys.ready(data)
	}
	if err != nil {
		return initExitPrepare, err
	}
	if fifo >= 0 {
		sys.waitFifo(fifo)
	}
	sys.closeOnExecFrom(3 + p.ExtraFiles)
	err = sys.exec(path, p.Args, p.Env)
	return initExitExec, fmt.Errorf("exec %s: %w", p.Args[0], err)
}

// prepareInit does everything up to the wait. The order is deliberate:
// setsid comes first, always, so that the process leaves the session and
// process group of whoever ran the runtime (an administrator's shell,
// whose terminal jailed root could otherwise push input into with TIOCSTI
// and whose ^C and ^Z would reach it), as runc does; the fifo and the
// terminal are host paths, so they come before jail_attach; the
// container's lock, held across an in-place exec, is let go once the
// process is in the jail; chdir follows jail_attach, so the directory is
// the jail's;
// groups and gid are set while the process may still do so, then the
// rlimits (raising a hard limit needs privilege), then uid, which drops
// it; the program is looked up last, with the user's own permissions.
func prepareInit(sys initSys, p *InitPlan) (string, int, error) {
	if err := p.Validate(); err != nil {
		return "", -1, err
	}
	fifo := -1
	if p.Fifo != "" {
		fd, err := sys.openFifo(p.Fifo)
		if err != nil {
			return "", -1, fmt.Errorf("exec fifo: %w", err)
		}
		fifo = fd
	}
	if err := sys.setsid(); err != nil {
		return "", -1, fmt.Errorf("setsid: %w", err)
	}
	if p.Terminal {
		if err := sys.terminal(p); err != nil {
			return "", -1, fmt.Errorf("terminal: %w", err)
		}
	}
	if err := sys.jailAttach(p.JID); err != nil {
		return "", -1, fmt.Errorf("jail_attach %d: %w", p.JID, err)
	}
	if p.LockFd > 0 {
		sys.closeFd(p.LockFd)
	}
	if err := sys.chdir(p.Cwd); err != nil {
		return "", -1, fmt.Errorf("chdir %s: %w", p.Cwd, err)
	}
	if err := sys.setgroups(p.Groups); err != nil {
		return "", -1, fmt.Errorf("setgroups %v: %w", p.Groups, err)
	}
	if err := sys.setgid(p.GID); err != nil {
		return "", -1, fmt.Errorf("setgid %d: %w", p.GID, err)
	}
	for _, rl := range p.Rlimits {
		if err := sys.setrlimit(rl); err != nil {
			return "", -1, fmt.Errorf("setrlimit %s (%d): %w", rl.Name, rl.Resource, err)
		}
	}
	if err := sys.setuid(p.UID); err != nil {
		return "", -1, fmt.Errorf("setuid %d: %w", p.UID, err)
	}
	if p.Umask != nil {
		sys.umask(*p.Umask)
	}
	path, err := sys.lookPath(p.Args[0], p.Env)
	if err != nil {
		return "", -1, err
	}
	return path, fifo, nil
}

// defaultPath is the search path of a process without PATH, as
// _PATH_DEFPATH of FreeBSD's <paths.h> (which execvp(3) uses) plus the
// ports' directories.
const defaultPath = "/usr/bin:/bin:/usr/sbin:/sbin:/usr/local/bin:/usr/local/sbin"

// lookPath finds arg0 as execvp(3) would, with the PATH of env: a name
// with a slash is taken as it is; otherwise the first regular file that
// the caller may execute in PATH's directories (an empty entry is the
// current directory). Errors say "executable file not found" or
// "permission denied", which the engine turns into exit codes 127 and 126.
func lookPath(arg0 string, env []string) (string, error) {
	if strings.Contains(arg0, "/") {
		if err := unix.Access(arg0, unix.X_OK); err != nil {
			return "", fmt.Errorf("%s: %w", arg0, err)
		}
		return arg0, nil
	}
	path := defaultPath
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	denied := ""
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		full := filepath.Join(dir, arg0)
		if dir == "." {
			full = "./" + arg0
		}
		fi, err := os.Stat(full)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if unix.Access(full, unix.X_OK) != nil {
			if denied == "" {
				denied = full
			}
			continue
		}
		return full, nil
	}
	if denied != "" {
		return "", fmt.Errorf("%s: %w", denied, unix.EACCES)
	}
	return "", fmt.Errorf("%s: executable file not found in $PATH", arg0)
}

// fdSys is what markCloseOnExec asks of the system.
type fdSys interface {
	// closeRangeCloexec is close_range(from, ~0U, CLOSE_RANGE_CLOEXEC).
	closeRangeCloexec(from int) error
	// setCloexec sets FD_CLOEXEC on one descriptor; a descriptor that is
	// not open is an error to ignore.
	setCloexec(fd int) error
}

// markCloseOnExec marks every descriptor from from on close-on-exec, with
// one close_range(2) call (FreeBSD 13.1 and later, which know
// CLOSE_RANGE_CLOEXEC). When the kernel refuses it (EINVAL from a kernel
// without the flag, ENOSYS from one without the call), it marks them one
// by one below limit, the highest descriptor the process could have
// (RLIMIT_NOFILE when the helper started). It reports whether it fell
// back.
func markCloseOnExec(s fdSys, from, limit int) bool {
	if s.closeRangeCloexec(from) == nil {
		return false
	}
	for fd := from; fd < limit; fd++ {
		s.setCloexec(fd)
	}
	return true
}
