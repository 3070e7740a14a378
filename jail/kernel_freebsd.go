//go:build freebsd

package jail

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/freebsdabi"
	"github.com/stockade/stockade/mount"
	"github.com/stockade/stockade/ociruntime"
)

// NewKernel returns the FreeBSD Kernel: system calls (the process table
// through sysctl(3), never ps(1) or pgrep(1)), and ifconfig(8) and
// devfs(8) for what has no system call.
func NewKernel() Kernel { return freebsdKernel{} }

type freebsdKernel struct{}

// iovecs turns buffers into iovecs; nil or empty buffers are NULL/0.
func iovecs(bufs [][]byte) []unix.Iovec {
	iov := make([]unix.Iovec, len(bufs))
	for i, b := range bufs {
		if len(b) > 0 {
			iov[i].Base = &b[0]
			iov[i].SetLen(len(b))
		}
	}
	return iov
}

func cmsg(buf []byte) string {
	if i := bytes.IndexByte(buf, 0); i >= 0 {
		buf = buf[:i]
	}
	return string(buf)
}

// jailCall makes jail_set(2) or jail_get(2) with an errmsg buffer.
func jailCall(trap uintptr, bufs [][]byte, flags int) (int, error) {
	errmsg := make([]byte, 1024)
	bufs = append(bufs, cstring("errmsg"), errmsg)
	iov := iovecs(bufs)
	for {
		r1, _, e := unix.Syscall(trap, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)), uintptr(flags))
		runtime.KeepAlive(bufs)
		runtime.KeepAlive(iov)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			if msg := cmsg(errmsg); msg != "" {
				return -1, fmt.Errorf("%w: %s", e, msg)
			}
			return -1, e
		}
		return int(r1), nil
	}
}

func (freebsdKernel) JailSet(params []Param, flags int) (int, error) {
	bufs, err := EncodeParams(params)
	if err != nil {
		return -1, err
	}
	jid, err := jailCall(unix.SYS_JAIL_SET, bufs, flags)
	if err != nil {
		return -1, fmt.Errorf("jail_set: %w", err)
	}
	return jid, nil
}

// jailParamKnown tells whether the kernel has the jail parameter: its
// sysctl security.jail.param.<name> exists (reading a node that is one,
// such as a jailsys parameter's, fails with EISDIR, not ENOENT).
func jailParamKnown(name string) bool {
	_, err := unix.SysctlRaw("security.jail.param." + name)
	return !errors.Is(err, unix.ENOENT)
}

func (freebsdKernel) LoadModule(param, file string) error {
	if jailParamKnown(param) {
		return nil
	}
	p, err := unix.BytePtrFromString(file)
	if err != nil {
		return fmt.Errorf("kldload %s: %w", file, err)
	}
	_, _, e := unix.Syscall(unix.SYS_KLDLOAD, uintptr(unsafe.Pointer(p)), 0, 0)
	runtime.KeepAlive(p)
	if e != 0 && e != unix.EEXIST {
		return fmt.Errorf("kldload %s: %w", file, e)
	}
	if !jailParamKnown(param) {
		return fmt.Errorf("kldload %s: the kernel still has no jail parameter %s", file, param)
	}
	return nil
}

func (freebsdKernel) JailRemove(jid int) error {
	_, _, e := unix.Syscall(unix.SYS_JAIL_REMOVE, uintptr(jid), 0, 0)
	if e != 0 && e != unix.EINVAL { // EINVAL: the jail is gone already
		return fmt.Errorf("jail_remove %d: %w", jid, e)
	}
	return nil
}

func (freebsdKernel) Nmount(c mount.NmountCall) error {
	bufs, errmsg := c.Encode()
	iov := iovecs(bufs)
	for {
		_, _, e := unix.Syscall(unix.SYS_NMOUNT, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)), uintptr(c.Flags))
		runtime.KeepAlive(bufs)
		runtime.KeepAlive(iov)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			if msg := cmsg(errmsg); msg != "" {
				return fmt.Errorf("nmount: %w: %s", e, msg)
			}
			return fmt.Errorf("nmount: %w", e)
		}
		return nil
	}
}

func (freebsdKernel) Unmount(path string, flags int) error {
	var err error
	for range 40 {
		err = unix.Unmount(path, flags)
		switch {
		case err == nil, errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil // unmounted, or not mounted any more
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EBUSY):
			time.Sleep(50 * time.Millisecond)
			continue
		}
		break
	}
	return fmt.Errorf("unmount %s: %w", path, err)
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (freebsdKernel) Devfs(args ...string) error    { return run("/sbin/devfs", args...) }
func (freebsdKernel) Ifconfig(args ...string) error { return run("/sbin/ifconfig", args...) }

func rctlCall(trap uintptr, rule string) error {
	in := cstring(rule)
	_, _, e := unix.Syscall6(trap, uintptr(unsafe.Pointer(&in[0])), uintptr(len(in)), 0, 0, 0, 0)
	runtime.KeepAlive(in)
	switch e {
	case 0:
		return nil
	case unix.ENOSYS:
		return fmt.Errorf("rctl %s: %w", rule, ErrRacctDisabled)
	}
	return fmt.Errorf("rctl %s: %w", rule, e)
}

func (freebsdKernel) RctlAdd(rule string) error { return rctlCall(unix.SYS_RCTL_ADD_RULE, rule) }
func (freebsdKernel) RctlRemove(rule string) error {
	err := rctlCall(unix.SYS_RCTL_REMOVE_RULE, rule)
	if errors.Is(err, unix.ESRCH) { // no such rule: removed already
		return nil
	}
	return err
}

func (freebsdKernel) Process(pid int) (ProcInfo, bool, error) {
	if pid <= 0 {
		return ProcInfo{}, false, nil
	}
	buf, err := unix.SysctlRaw("kern.proc.pid", pid)
	if errors.Is(err, unix.ESRCH) {
		return ProcInfo{}, false, nil
	}
	if err != nil {
		return ProcInfo{}, false, fmt.Errorf("sysctl kern.proc.pid.%d: %w", pid, err)
	}
	procs, err := ParseKinfoProcs(buf)
	if err != nil {
		return ProcInfo{}, false, fmt.Errorf("sysctl kern.proc.pid.%d: %w", pid, err)
	}
	if len(procs) != 1 || procs[0].Pid != pid {
		return ProcInfo{}, false, fmt.Errorf("sysctl kern.proc.pid.%d: %d records", pid, len(procs))
	}
	return procs[0], true, nil
}

func (freebsdKernel) Kill(pid int, sig syscall.Signal) error {
	if err := unix.Kill(pid, sig); err != nil {
		return fmt.Errorf("kill %d: %w", pid, err)
	}
	return nil
}

// JailProcesses reads the whole process table (kern.proc.proc, one
// record per process) and keeps the live processes of the jail.
func (freebsdKernel) JailProcesses(jid int) ([]int, error) {
	var buf []byte
	var err error
	// The table may grow between sizing the buffer and filling it.
	for range 5 {
		if buf, err = unix.SysctlRaw("kern.proc.proc"); !errors.Is(err, unix.ENOMEM) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("sysctl kern.proc.proc: %w", err)
	}
	procs, err := ParseKinfoProcs(buf)
	if err != nil {
		return nil, fmt.Errorf("sysctl kern.proc.proc: %w", err)
	}
	return liveInJail(procs, jid), nil
}

// JailLookup calls jail_get(2) for the jid with JAIL_DYING, so that a
// dying jail is found too, and reads its name back.
func (freebsdKernel) JailLookup(jid int) (string, bool, error) {
	id := make([]byte, 4)
	binary.NativeEndian.PutUint32(id, uint32(jid))
	name := make([]byte, 256) // MAXHOSTNAMELEN
	_, err := jailCall(unix.SYS_JAIL_GET, [][]byte{cstring("jid"), id, cstring("name"), name}, freebsdabi.JailDying)
	if errors.Is(err, unix.ENOENT) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("jail_get %d: %w", jid, err)
	}
	return cmsg(name), true, nil
}

// ExecInit replaces this process with the init helper, as StartInit
// starts it but keeping the pid, with the standard streams and the
// descriptors it has.
func (freebsdKernel) ExecInit(plan *InitPlan) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("init helper: %w", err)
	}
	data, err := json.Marshal(plan)
	if err != nil {
		return fmt.Errorf("init helper: %w", err)
	}
	err = unix.Exec(exe, []string{exe, InitCommand}, []string{InitEnv + "=" + string(data)})
	return fmt.Errorf("init helper: exec %s: %w", exe, err)
}

type helperProc struct{ cmd *exec.Cmd }

func (p helperProc) Pid() int { return p.cmd.Process.Pid }

func (p helperProc) Wait() (int, error) {
	err := p.cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return exit.ExitCode(), nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

// StartInit re-executes this program as the init helper, with the plan in
// its environment and the ready pipe after io.ExtraFiles, and waits for
// its ready message.
func (freebsdKernel) StartInit(plan *InitPlan, sio ociruntime.IO) (Process, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("init helper: %w", err)
	}
	data, err := json.Marshal(plan)
	if err != nil {
		return nil, fmt.Errorf("init helper: %w", err)
	}
	rd, wr, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("init helper: %w", err)
	}
	defer rd.Close()
	cmd := exec.Command(exe, InitCommand)
	cmd.Env = []string{InitEnv + "=" + string(data)}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = sio.Stdin, sio.Stdout, sio.Stderr
	cmd.ExtraFiles = append(append([]*os.File{}, sio.ExtraFiles...), wr)
	err = cmd.Start()
	wr.Close()
	if err != nil {
		return nil, fmt.Errorf("init helper: %w", err)
	}
	msg, err := io.ReadAll(io.LimitReader(rd, 64<<10))
	var ready ReadyMessage
	if err == nil {
		if len(bytes.TrimSpace(msg)) == 0 {
			err = errors.New("the init helper ended without saying it was ready")
		} else if jerr := json.Unmarshal(msg, &ready); jerr != nil {
			err = fmt.Errorf("init helper: bad ready message %q", msg)
		} else if ready.Error != "" {
			err = errors.New(ready.Error)
		}
	}
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("init helper: %w", err)
	}
	return helperProc{cmd}, nil
}
