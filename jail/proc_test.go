package jail

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/freebsdabi"
	"github.com/stockade/stockade/ociruntime"
)

// kinfoProc returns a struct kinfo_proc record as the kernel writes it.
func kinfoProc(pid, jid int, stat byte) []byte {
	b := make([]byte, freebsdabi.KinfoProcSize)
	binary.NativeEndian.PutUint32(b[freebsdabi.KiStructsizeOffset:], freebsdabi.KinfoProcSize)
	binary.NativeEndian.PutUint32(b[freebsdabi.KiPidOffset:], uint32(pid))
	binary.NativeEndian.PutUint32(b[freebsdabi.KiJidOffset:], uint32(jid))
	b[freebsdabi.KiStatOffset] = stat
	return b
}

func TestParseKinfoProcs(t *testing.T) {
	const srun, ssleep = 2, 3
	table := slices.Concat(kinfoProc(1, 0, ssleep), kinfoProc(1000, 7, srun), kinfoProc(1001, 7, freebsdabi.SZomb),
		kinfoProc(1002, 8, ssleep), kinfoProc(1003, 7, freebsdabi.SIdl), kinfoProc(1004, 7, ssleep))
	procs, err := ParseKinfoProcs(table)
	if err != nil {
		t.Fatal(err)
	}
	want := []ProcInfo{{1, 0, false}, {1000, 7, false}, {1001, 7, true}, {1002, 8, false}, {1003, 7, true}, {1004, 7, false}}
	if !slices.Equal(procs, want) {
		t.Errorf("got %+v, want %+v", procs, want)
	}
	if got := liveInJail(procs, 7); !slices.Equal(got, []int{1000, 1004}) {
		t.Errorf("live in jail 7: %v", got)
	}
	if got := liveInJail(procs, 0); len(got) != 0 {
		t.Errorf("jail 0 (the host) is no container's: %v", got)
	}
	for name, b := range map[string][]byte{
		"short":          table[:100],
		"other size":     func() []byte { b := kinfoProc(5, 7, 2); binary.NativeEndian.PutUint32(b, 1096); return b }(),
		"trailing bytes": append(kinfoProc(5, 7, 2), 0),
	} {
		if _, err := ParseKinfoProcs(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// A pid the system gave to another process after the container's ended
// (outside its jail) is not the container's: the container reads as
// stopped, and kill and delete do not signal it.
func TestPidReusedOutsideTheJail(t *testing.T) {
	ctx := context.Background()
	r, k := running(t)
	k.mu.Lock()
	k.procJID[1000] = 0 // pid 1000 is now a host process
	k.mu.Unlock()
	st, err := r.State(ctx, "c1")
	if err != nil || st.Status != specs.StateStopped || st.Pid != 0 {
		t.Fatalf("state: %+v %v; want stopped without a pid", st, err)
	}
	k.reset()
	if err := r.Kill(ctx, "c1", syscall.SIGTERM, false); !errors.Is(err, ociruntime.ErrNotRunning) {
		t.Errorf("kill: %v, want ErrNotRunning", err)
	}
	if err := r.Delete(ctx, "c1", true); err != nil {
		t.Fatal(err)
	}
	for _, c := range k.log() {
		if strings.HasPrefix(c, "kill 1000 ") {
			t.Errorf("signalled the reused pid: %q", k.log())
		}
	}
}

// KillProcess (runj's kill --pid) signals a process of the jail, never one
// outside it.
func TestKillProcess(t *testing.T) {
	ctx := context.Background()
	r, k := running(t)
	k.mu.Lock()
	k.alive[2000], k.procJID[2000] = true, 7
	k.alive[2001], k.procJID[2001] = true, 0
	k.mu.Unlock()
	k.reset()
	if err := r.KillProcess(ctx, "c1", 2000, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := r.KillProcess(ctx, "c1", 2001, syscall.SIGKILL); err == nil || !strings.Contains(err.Error(), "not in the container's jail") && !strings.Contains(err.Error(), "no such process in the container's jail") {
		t.Errorf("kill --pid of a host process: %v", err)
	}
	if err := r.KillProcess(ctx, "c1", 2002, syscall.SIGKILL); err == nil {
		t.Error("kill --pid of no process: no error")
	}
	if got := k.log(); !slices.Equal(got, []string{"kill 2000 15"}) {
		t.Errorf("calls %q", got)
	}
}

// Once the container's process exited, what it left in the jail keeps the
// container running (as runj reports it), without a pid, and kill --all
// (runj's shim sends it then) reaches every one.
func TestKillAllAfterMainExit(t *testing.T) {
	ctx := context.Background()
	r, k := running(t)
	k.mu.Lock()
	delete(k.alive, 1000)
	k.jailPs = []int{1005, 1006}
	k.mu.Unlock()
	st, err := r.State(ctx, "c1")
	if err != nil || st.Status != specs.StateRunning || st.Pid != 0 {
		t.Fatalf("state: %+v %v; want running without a pid", st, err)
	}
	k.reset()
	if err := r.Kill(ctx, "c1", syscall.SIGTERM, false); !errors.Is(err, ociruntime.ErrNotRunning) {
		t.Errorf("kill without --all: %v, want ErrNotRunning", err)
	}
	if err := r.Kill(ctx, "c1", syscall.SIGKILL, true); err != nil {
		t.Fatal(err)
	}
	if got := k.log(); !slices.Equal(got, []string{"kill 1005 9", "kill 1006 9"}) {
		t.Errorf("kill --all: %q", got)
	}
	if st, _ := r.State(ctx, "c1"); st.Status != specs.StateStopped {
		t.Errorf("after kill --all: %s", st.Status)
	}
	if err := r.Delete(ctx, "c1", false); err != nil {
		t.Errorf("delete: %v", err)
	}
}

// A container created but never started whose helper died is stopped,
// even with processes in the jail (none can be there before start).
func TestCreatedHelperGone(t *testing.T) {
	bundle, _, _ := testBundle(t, nil)
	k := newFake()
	r := New(t.TempDir(), k, nil)
	if err := create(t, r, bundle); err != nil {
		t.Fatal(err)
	}
	k.mu.Lock()
	delete(k.alive, 1000)
	k.jailPs = []int{1005}
	k.mu.Unlock()
	if st, _ := r.State(context.Background(), "c1"); st.Status != specs.StateStopped {
		t.Errorf("state %s, want stopped", st.Status)
	}
}

// ExecInPlace turns the caller into the init helper (runj's exec): the
// pid file names the caller, which becomes the program; the container's
// lock is handed over to the helper; Detach is refused.
func TestExecInPlace(t *testing.T) {
	ctx := context.Background()
	r, k := running(t)
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	lockHeld := false
	k.onExecInit = func(p *InitPlan) {
		var held, lock syscall.Stat_t
		lockPath := filepath.Join(r.store.dir("c1"), LockFile)
		lockHeld = syscall.Fstat(p.LockFd, &held) == nil && syscall.Stat(lockPath, &lock) == nil &&
			held.Ino == lock.Ino && held.Dev == lock.Dev
	}
	k.reset()
	err := r.ExecInPlace(ctx, "c1", ociruntime.ExecOpts{Process: lsProcess(), PidFile: pidFile})
	if !errors.Is(err, errExecInit) {
		t.Fatalf("ExecInPlace: %v", err)
	}
	if got := k.log(); !slices.Equal(got, []string{"exec_init jid=7 args=[ls] in_place=true lock=true"}) {
		t.Errorf("calls %q", got)
	}
	if !lockHeld {
		t.Error("the plan's LockFd is not the container's lock")
	}
	data, err := os.ReadFile(pidFile)
	if err != nil || string(data) != strconv.Itoa(os.Getpid()) {
		t.Errorf("pid file %q (%v), want the caller's pid %d", data, err, os.Getpid())
	}
	if err := r.ExecInPlace(ctx, "c1", ociruntime.ExecOpts{Process: lsProcess(), Detach: true}); err == nil {
		t.Error("a detached exec in place: no error")
	}
	k.mu.Lock()
	delete(k.alive, 1000)
	k.mu.Unlock()
	k.reset()
	if err := r.ExecInPlace(ctx, "c1", ociruntime.ExecOpts{Process: lsProcess()}); !errors.Is(err, ociruntime.ErrNotRunning) || len(k.log()) != 0 {
		t.Errorf("exec in place in a stopped container: %v, calls %q", err, k.log())
	}
}
