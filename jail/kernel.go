package jail

import (
	"syscall"

	"github.com/stockade/stockade/freebsdabi"
	"github.com/stockade/stockade/mount"
	"github.com/stockade/stockade/ociruntime"
)

// jail_set(2) flags of <sys/jail.h>.
const (
	// JailCreate creates a jail.
	JailCreate = freebsdabi.JailCreate
	// JailUpdate modifies an existing jail.
	JailUpdate = freebsdabi.JailUpdate
)

// Kernel is what the runtime asks of the system. The FreeBSD
// implementation (NewKernel) makes system calls and runs ifconfig(8),
// devfs(8) and pgrep(1); tests use a recording fake.
type Kernel interface {
	// JailSet calls jail_set(2) with the parameters and flags (JailCreate
	// or JailUpdate) and returns the jail's id.
	JailSet(params []Param, flags int) (jid int, err error)
	// LoadModule makes sure that the jail parameter param exists, loading
	// the kernel module file (kldload(2)) when it does not.
	LoadModule(param, file string) error
	// JailRemove removes the jail and kills its processes.
	JailRemove(jid int) error
	// Nmount makes one mount.
	Nmount(call mount.NmountCall) error
	// Unmount unmounts path.
	Unmount(path string, flags int) error
	// Devfs runs devfs(8) with args.
	Devfs(args ...string) error
	// RctlAdd and RctlRemove add and remove an rctl(8) rule; when racct is
	// off they return an error wrapping ErrRacctDisabled.
	RctlAdd(rule string) error
	// RctlRemove removes an rctl rule.
	RctlRemove(rule string) error
	// Ifconfig runs ifconfig(8) with args.
	Ifconfig(args ...string) error
	// StartInit starts the init helper that carries the plan out, with
	// io as its standard streams, and returns once the helper is ready
	// (waiting on the plan's fifo, or running the program when there is
	// none) or failed.
	StartInit(plan *InitPlan, io ociruntime.IO) (Process, error)
	// ProcessAlive tells whether pid exists and is not a zombie.
	ProcessAlive(pid int) bool
	// Kill sends sig to pid.
	Kill(pid int, sig syscall.Signal) error
	// JailProcesses returns the pids of the processes in the jail.
	JailProcesses(jid int) ([]int, error)
}

// Process is a process the init helper became.
type Process interface {
	// Pid is its process id.
	Pid() int
	// Wait waits for it to end and returns its exit code (128+signal when
	// killed by a signal).
	Wait() (int, error)
}
