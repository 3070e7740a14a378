// Package freebsdabi holds the FreeBSD kernel ABI numbers that stockade's
// system-call layers use and that golang.org/x/sys/unix does not provide
// (or that portable code must see on every OS): jail(2) flags and jailsys
// values, the FIODGNAME ioctl, procctl(2) commands, the RLIMIT_* resource
// numbers, the MNT_* mount flags, the process table's sysctl names and
// struct kinfo_proc's layout, and close_range(2)'s flag.
//
// They are spelled out here, without build tags, so that the encoders that
// use them build and are tested on Linux too. Two independent checks keep
// them honest, since FreeBSD itself cannot run in this project's CI:
//
//   - xsys_freebsd.go fails the freebsd build when a value differs from
//     golang.org/x/sys/unix, for every name x/sys/unix has;
//   - TestAgainstRustLibc compares every value with the Rust libc crate's
//     FreeBSD definitions (Debian's librust-libc-dev), which that project
//     checks against the real FreeBSD headers.
package freebsdabi

// jail_set(2) and jail_get(2) flags, <sys/jail.h>.
const (
	// JailCreate creates a jail.
	JailCreate = 0x01
	// JailUpdate modifies an existing jail.
	JailUpdate = 0x02
	// JailAttach attaches the caller to the jail it creates or updates.
	JailAttach = 0x04
	// JailDying allows jail_get(2) and jail_set(2) on a dying jail.
	JailDying = 0x08
)

// Values of the "jailsys" parameters (host, ip4, ip6, vnet, sysvmsg,
// sysvsem, sysvshm, linux), <sys/jail.h>.
const (
	// JailSysDisable turns the feature off in the jail.
	JailSysDisable = 0
	// JailSysNew gives the jail its own instance.
	JailSysNew = 1
	// JailSysInherit shares the parent's instance.
	JailSysInherit = 2
)

// FIODGNAME is _IOW('f', 120, struct fiodgname_arg) of <sys/filio.h> on
// LP64 (amd64, arm64): it writes the device name of a descriptor (such as
// "pts/3" for a pseudo-terminal master) into a caller's buffer. ptsname(3)
// is built on it.
const FIODGNAME = 0x80106678

// FiodgnameArg is struct fiodgname_arg of <sys/filio.h> on LP64: an int
// length, padding, and a pointer to the buffer.
type FiodgnameArg struct {
	// Len is the buffer's size.
	Len int32
	_   int32
	// Buf is the buffer's first byte.
	Buf *byte
}

// procctl(2): the id type of <sys/wait.h> (idtype_t) and the commands of
// <sys/procctl.h> that stockade uses.
const (
	// PPid is P_PID: the id is a process id.
	PPid = 0
	// ProcReapAcquire is PROC_REAP_ACQUIRE: become the reaper of one's
	// descendants.
	ProcReapAcquire = 2
)

// Resource numbers of setrlimit(2), <sys/resource.h>.
const (
	RlimitCPU     = 0  // RLIMIT_CPU
	RlimitFsize   = 1  // RLIMIT_FSIZE
	RlimitData    = 2  // RLIMIT_DATA
	RlimitStack   = 3  // RLIMIT_STACK
	RlimitCore    = 4  // RLIMIT_CORE
	RlimitRSS     = 5  // RLIMIT_RSS
	RlimitMemlock = 6  // RLIMIT_MEMLOCK
	RlimitNproc   = 7  // RLIMIT_NPROC
	RlimitNofile  = 8  // RLIMIT_NOFILE
	RlimitSbsize  = 9  // RLIMIT_SBSIZE
	RlimitVmem    = 10 // RLIMIT_VMEM, also named RLIMIT_AS
	RlimitNpts    = 11 // RLIMIT_NPTS
	RlimitSwap    = 12 // RLIMIT_SWAP
	RlimitKqueues = 13 // RLIMIT_KQUEUES
	RlimitUmtxp   = 14 // RLIMIT_UMTXP
	RlimitPipebuf = 15 // RLIMIT_PIPEBUF, from FreeBSD 14.2 on (earlier kernels refuse it)
)

// Rlimits maps the RLIMIT_* names (runtime-spec's process.rlimits types)
// to FreeBSD's resource numbers.
var Rlimits = map[string]int{
	"RLIMIT_CPU": RlimitCPU, "RLIMIT_FSIZE": RlimitFsize, "RLIMIT_DATA": RlimitData,
	"RLIMIT_STACK": RlimitStack, "RLIMIT_CORE": RlimitCore, "RLIMIT_RSS": RlimitRSS,
	"RLIMIT_MEMLOCK": RlimitMemlock, "RLIMIT_NPROC": RlimitNproc, "RLIMIT_NOFILE": RlimitNofile,
	"RLIMIT_SBSIZE": RlimitSbsize, "RLIMIT_VMEM": RlimitVmem, "RLIMIT_AS": RlimitVmem,
	"RLIMIT_NPTS": RlimitNpts, "RLIMIT_SWAP": RlimitSwap, "RLIMIT_KQUEUES": RlimitKqueues,
	"RLIMIT_UMTXP": RlimitUmtxp, "RLIMIT_PIPEBUF": RlimitPipebuf,
}

// Mount flags, the MNT_* constants of <sys/mount.h> that nmount(2) and
// unmount(2) take.
const (
	// MntRdonly is MNT_RDONLY.
	MntRdonly = 0x1
	// MntSynchronous is MNT_SYNCHRONOUS.
	MntSynchronous = 0x2
	// MntNoexec is MNT_NOEXEC.
	MntNoexec = 0x4
	// MntNosuid is MNT_NOSUID.
	MntNosuid = 0x8
	// MntAsync is MNT_ASYNC.
	MntAsync = 0x40
	// MntUpdate is MNT_UPDATE.
	MntUpdate = 0x10000
	// MntForce is MNT_FORCE.
	MntForce = 0x80000
	// MntNosymfollow is MNT_NOSYMFOLLOW.
	MntNosymfollow = 0x400000
	// MntNoatime is MNT_NOATIME.
	MntNoatime = 0x10000000
	// MntNoclusterr is MNT_NOCLUSTERR.
	MntNoclusterr = 0x40000000
	// MntNoclusterw is MNT_NOCLUSTERW.
	MntNoclusterw = 0x80000000
)

// sysctl(3) names of the process table, <sys/sysctl.h>: the MIB
// {CTL_KERN, KERN_PROC, KERN_PROC_PID, pid} ("kern.proc.pid.<pid>") reads
// one process's struct kinfo_proc (zombies included; ESRCH when there is
// no such process), {CTL_KERN, KERN_PROC, KERN_PROC_PROC} ("kern.proc.proc")
// every process's, one record per process.
const (
	// CtlKern is CTL_KERN.
	CtlKern = 1
	// KernProc is KERN_PROC.
	KernProc = 14
	// KernProcPid is KERN_PROC_PID.
	KernProcPid = 1
	// KernProcProc is KERN_PROC_PROC: all processes, without threads.
	KernProcProc = 8
)

// struct kinfo_proc of <sys/user.h> on LP64 (amd64 and arm64): its size,
// which the kernel writes into ki_structsize, and the offsets of the fields
// the jail runtime reads. The layout is frozen by KINFO_PROC_SIZE (fields
// are only ever carved out of its spare arrays); TestKinfoProcLayout
// recomputes the offsets from the Rust libc crate's definition.
const (
	// KinfoProcSize is KINFO_PROC_SIZE.
	KinfoProcSize = 1088
	// KiStructsizeOffset is the offset of int ki_structsize.
	KiStructsizeOffset = 0
	// KiPidOffset is the offset of pid_t ki_pid.
	KiPidOffset = 72
	// KiStatOffset is the offset of char ki_stat, the process's S* state.
	KiStatOffset = 388
	// KiJidOffset is the offset of int ki_jid, the id of the process's
	// jail (0 on the host).
	KiJidOffset = 592
)

// Process states of ki_stat, <sys/proc.h>.
const (
	// SIdl is SIDL: the process is being made by fork(2).
	SIdl = 1
	// SZomb is SZOMB: the process has exited and waits to be reaped.
	SZomb = 5
)

// CloseRangeCloexec is CLOSE_RANGE_CLOEXEC of <sys/unistd.h> (FreeBSD
// 13.1 and later): close_range(2) marks the descriptors close-on-exec
// instead of closing them. Older kernels refuse the flag with EINVAL. The
// Rust libc crate Debian ships predates it, so it is checked against
// FreeBSD's header only (sys/sys/unistd.h: (1<<2)).
const CloseRangeCloexec = 1 << 2
