package jail

import (
	"encoding/binary"
	"fmt"

	"github.com/stockade/stockade/freebsdabi"
)

// ProcInfo is what the kernel's process table says about one process.
type ProcInfo struct {
	// Pid is the process's id.
	Pid int
	// JID is the id of the jail the process is in; 0 on the host.
	JID int
	// Zombie is set for a process that has exited and waits to be reaped
	// (SZOMB), or is still being made by fork (SIDL): neither runs.
	Zombie bool
}

// LiveIn tells whether the process runs in jail jid. It is how the
// runtime tells its container's process from another process that got
// the same pid after it (FreeBSD reuses pids; PID_MAX is 99999): the
// runtime reports a container running and signals a pid only when the
// process is in the container's jail.
func (p ProcInfo) LiveIn(jid int) bool {
	return jid > 0 && p.JID == jid && !p.Zombie
}

// ParseKinfoProcs reads the struct kinfo_proc records that the sysctls
// kern.proc.pid.<pid> (one) and kern.proc.proc (all) return: each is
// freebsdabi.KinfoProcSize bytes, its ki_structsize says so, and ki_pid,
// ki_stat and ki_jid are read at their LP64 offsets in the machine's byte
// order. A record of another size is an error, not a guess: it would mean
// a kernel whose layout this runtime does not know.
func ParseKinfoProcs(b []byte) ([]ProcInfo, error) {
	const size = freebsdabi.KinfoProcSize
	if len(b)%size != 0 {
		return nil, fmt.Errorf("kinfo_proc: %d bytes is not a whole number of %d-byte records", len(b), size)
	}
	out := make([]ProcInfo, 0, len(b)/size)
	for rec := b; len(rec) > 0; rec = rec[size:] {
		if got := int32(binary.NativeEndian.Uint32(rec[freebsdabi.KiStructsizeOffset:])); got != size {
			return nil, fmt.Errorf("kinfo_proc: ki_structsize %d, want %d", got, size)
		}
		stat := rec[freebsdabi.KiStatOffset]
		out = append(out, ProcInfo{
			Pid:    int(int32(binary.NativeEndian.Uint32(rec[freebsdabi.KiPidOffset:]))),
			JID:    int(int32(binary.NativeEndian.Uint32(rec[freebsdabi.KiJidOffset:]))),
			Zombie: stat == freebsdabi.SZomb || stat == freebsdabi.SIdl,
		})
	}
	return out, nil
}

// liveInJail returns the pids of procs that run in jail jid.
func liveInJail(procs []ProcInfo, jid int) []int {
	var pids []int
	for _, p := range procs {
		if p.LiveIn(jid) {
			pids = append(pids, p.Pid)
		}
	}
	return pids
}
