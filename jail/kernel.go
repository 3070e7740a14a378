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
// implementation (NewKernel) makes system calls and runs ifconfig(8) and
// devfs(8); tests use a recording fake.
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
	// ExecInit replaces the calling process with the init helper that
	// carries the plan out (a plan with InPlace set): the process keeps
	// its pid, which becomes the program's. It returns only on failure.
	ExecInit(plan *InitPlan) error
	// Process returns what the process table says about pid; ok is false
	// when there is no such process. A zombie is there, with Zombie set.
	Process(pid int) (info ProcInfo, ok bool, err error)
	// Kill sends sig to pid.
	Kill(pid int, sig syscall.Signal) error
	// JailProcesses returns the pids of the processes that run in the
	// jail (zombies left out).
	JailProcesses(jid int) ([]int, error)
	// JailLookup tells whether a jail with id jid exists, alive or dying,
	// and returns its name (jail_get(2) with JAIL_DYING).
	JailLookup(jid int) (name string, found bool, err error)
}

// Process is a process the init helper became.
type Process interface {
	// Pid is its process id.
	Pid() int
	// Wait waits for it to end and returns its exit code (128+signal when
	// killed by a signal).
	Wait() (int, error)
}
