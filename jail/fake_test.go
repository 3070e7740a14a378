package jail

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/stockade/stockade/mount"
	"github.com/stockade/stockade/ociruntime"
)

// fakeKernel records every call as one line and fails the calls failOn
// names.
type fakeKernel struct {
	mu     sync.Mutex
	calls  []string
	failOn map[string]error // exact call line, or "op#n" for the n-th call (1-based) of op
	counts map[string]int
	alive  map[int]bool
	// procJID is the jail of each live process (the plan's jail for a
	// helper it started); a test sets another to play a reused pid.
	procJID map[int]int
	nextID  int
	plans   []*InitPlan
	exit    int
	// jailPs are the processes in the jail, as JailProcesses reports them;
	// SIGKILL takes a pid out.
	jailPs []int
	// jails are the jails that exist, by id, with their names; a removed
	// one stays dying for dyingLookups more lookups.
	jails        map[int]string
	dyingLookups int
	// reuseJID, when set, names the jail that takes a removed jail's id
	// at once.
	reuseJID string
	fifos    map[int]*os.File // the fifo each helper holds open, by pid
	// onExec, when set, plays a process started without a fifo (an Exec):
	// it gets the process's streams and returns its Wait.
	onExec func(plan *InitPlan, sio ociruntime.IO) func() (int, error)
	// onNmount and onExecInit, when set, run at those calls.
	onNmount   func(c mount.NmountCall)
	onExecInit func(plan *InitPlan)
	// killLinger is how many more lookups (Process) a process sent
	// SIGKILL stays in the process table, as one does while the kernel
	// tears it down; lingering counts them down by pid. lookups counts
	// the calls of Process.
	killLinger int
	lingering  map[int]int
	lookups    int
}

func newFake() *fakeKernel {
	return &fakeKernel{failOn: map[string]error{}, counts: map[string]int{}, alive: map[int]bool{}, procJID: map[int]int{},
		fifos: map[int]*os.File{}, jails: map[int]string{}, lingering: map[int]int{}, nextID: 7}
}

func (f *fakeKernel) rec(op, line string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts[op]++
	f.calls = append(f.calls, line)
	if err, ok := f.failOn[line]; ok {
		return err
	}
	if err, ok := f.failOn[fmt.Sprintf("%s#%d", op, f.counts[op])]; ok {
		return err
	}
	return nil
}

func (f *fakeKernel) reset() {
	f.mu.Lock()
	f.calls = nil
	f.mu.Unlock()
}

func (f *fakeKernel) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeKernel) JailSet(params []Param, flags int) (int, error) {
	s := make([]string, len(params))
	for i, p := range params {
		s[i] = p.String()
	}
	mode := "create"
	if flags == JailUpdate {
		mode = "update"
	}
	if err := f.rec("jail_set", "jail_set "+mode+" "+strings.Join(s, " ")); err != nil {
		return -1, err
	}
	f.mu.Lock()
	for _, p := range params {
		if p.Name == "name" {
			f.jails[f.nextID] = p.Str
		}
	}
	f.mu.Unlock()
	return f.nextID, nil
}

func (f *fakeKernel) LoadModule(param, file string) error {
	return f.rec("kldload", "kldload "+param+" "+file)
}

func (f *fakeKernel) JailRemove(jid int) error {
	if err := f.rec("jail_remove", fmt.Sprintf("jail_remove %d", jid)); err != nil {
		return err
	}
	f.mu.Lock()
	switch {
	case f.reuseJID != "":
		f.jails[jid] = f.reuseJID
	case f.dyingLookups == 0:
		delete(f.jails, jid)
	}
	f.mu.Unlock()
	return nil
}

// JailLookup finds a removed jail while it is dying (dyingLookups).
func (f *fakeKernel) JailLookup(jid int) (string, bool, error) {
	if err := f.rec("jail_get", fmt.Sprintf("jail_get %d", jid)); err != nil {
		return "", false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	name, ok := f.jails[jid]
	if ok && f.dyingLookups > 0 {
		f.dyingLookups--
		if f.dyingLookups == 0 {
			delete(f.jails, jid)
		}
	}
	return name, ok, nil
}

func (f *fakeKernel) Nmount(c mount.NmountCall) error {
	s := make([]string, len(c.Options))
	for i, o := range c.Options {
		s[i] = o.String()
	}
	if err := f.rec("nmount", fmt.Sprintf("nmount %s flags=%#x", strings.Join(s, " "), c.Flags)); err != nil {
		return err
	}
	if f.onNmount != nil {
		f.onNmount(c)
	}
	return nil
}

func (f *fakeKernel) Unmount(path string, flags int) error {
	line := "unmount " + path
	if flags != 0 {
		line += fmt.Sprintf(" flags=%#x", flags)
	}
	return f.rec("unmount", line)
}

func (f *fakeKernel) Devfs(args ...string) error {
	return f.rec("devfs", "devfs "+strings.Join(args, " "))
}

func (f *fakeKernel) RctlAdd(rule string) error    { return f.rec("rctl_add", "rctl_add "+rule) }
func (f *fakeKernel) RctlRemove(rule string) error { return f.rec("rctl_remove", "rctl_remove "+rule) }

func (f *fakeKernel) Ifconfig(args ...string) error {
	return f.rec("ifconfig", "ifconfig "+strings.Join(args, " "))
}

type fakeProc struct {
	pid  int
	code int
	wait func() (int, error) // when set, Wait's answer
}

func (p fakeProc) Pid() int { return p.pid }

func (p fakeProc) Wait() (int, error) {
	if p.wait != nil {
		return p.wait()
	}
	return p.code, nil
}

// StartInit behaves as the helper does with the fifo: it holds it open
// read-write and waits for Start's byte.
func (f *fakeKernel) StartInit(plan *InitPlan, sio ociruntime.IO) (Process, error) {
	if err := f.rec("start_init", fmt.Sprintf("start_init jid=%d args=%v fifo=%t", plan.JID, plan.Args, plan.Fifo != "")); err != nil {
		return nil, err
	}
	f.mu.Lock()
	pid := 1000 + len(f.plans)
	f.plans = append(f.plans, plan)
	f.alive[pid] = true
	f.procJID[pid] = plan.JID
	exit, onExec := f.exit, f.onExec
	f.mu.Unlock()
	if plan.Fifo != "" {
		fd, err := os.OpenFile(plan.Fifo, os.O_RDWR, 0)
		if err != nil {
			return nil, err
		}
		f.mu.Lock()
		f.fifos[pid] = fd
		f.mu.Unlock()
		go func() {
			b := make([]byte, 1)
			fd.Read(b)
			fd.Close()
		}()
	}
	p := fakeProc{pid: pid, code: exit}
	if plan.Fifo == "" && onExec != nil {
		p.wait = onExec(plan, sio)
	}
	return p, nil
}

// errExecInit is what the fake's ExecInit returns: a real one does not
// return when it succeeds.
var errExecInit = fmt.Errorf("the fake kernel replaced no process")

func (f *fakeKernel) ExecInit(plan *InitPlan) error {
	if err := f.rec("exec_init", fmt.Sprintf("exec_init jid=%d args=%v in_place=%t lock=%t", plan.JID, plan.Args, plan.InPlace, plan.LockFd > 0)); err != nil {
		return err
	}
	f.mu.Lock()
	f.plans = append(f.plans, plan)
	f.mu.Unlock()
	if f.onExecInit != nil {
		f.onExecInit(plan)
	}
	return errExecInit
}

func (f *fakeKernel) Process(pid int) (ProcInfo, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if n, ok := f.lingering[pid]; ok {
		if n == 0 {
			delete(f.lingering, pid)
			delete(f.alive, pid)
		} else {
			f.lingering[pid] = n - 1
		}
	}
	if !f.alive[pid] {
		return ProcInfo{}, false, nil
	}
	return ProcInfo{Pid: pid, JID: f.procJID[pid]}, true, nil
}

func (f *fakeKernel) Kill(pid int, sig syscall.Signal) error {
	err := f.rec("kill", fmt.Sprintf("kill %d %d", pid, int(sig)))
	if err == nil && sig == syscall.SIGKILL {
		f.mu.Lock()
		if f.killLinger > 0 && f.alive[pid] {
			f.lingering[pid] = f.killLinger
		} else {
			delete(f.alive, pid)
		}
		f.jailPs = slices.DeleteFunc(f.jailPs, func(p int) bool { return p == pid })
		if fd := f.fifos[pid]; fd != nil {
			fd.Close() // the helper is gone: so is its hold on the fifo
			delete(f.fifos, pid)
		}
		f.mu.Unlock()
	}
	return err
}

// JailProcesses is not recorded: status asks it too, as often as it asks
// the process table.
func (f *fakeKernel) JailProcesses(jid int) ([]int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.jailPs), nil
}

func statusOf(s string) ociruntime.Status { return ociruntime.Status(s) }
