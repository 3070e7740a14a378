package jail

import (
	"fmt"
	"os"
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
	nextID int
	plans  []*InitPlan
	exit   int
	jailPs []int
	fifos  map[int]*os.File // the fifo each helper holds open, by pid
	// onExec, when set, plays a process started without a fifo (an Exec):
	// it gets the process's streams and returns its Wait.
	onExec func(plan *InitPlan, sio ociruntime.IO) func() (int, error)
}

func newFake() *fakeKernel {
	return &fakeKernel{failOn: map[string]error{}, counts: map[string]int{}, alive: map[int]bool{}, fifos: map[int]*os.File{}, nextID: 7}
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
	return f.nextID, nil
}

func (f *fakeKernel) LoadModule(param, file string) error {
	return f.rec("kldload", "kldload "+param+" "+file)
}

func (f *fakeKernel) JailRemove(jid int) error {
	return f.rec("jail_remove", fmt.Sprintf("jail_remove %d", jid))
}

func (f *fakeKernel) Nmount(c mount.NmountCall) error {
	s := make([]string, len(c.Options))
	for i, o := range c.Options {
		s[i] = o.String()
	}
	return f.rec("nmount", fmt.Sprintf("nmount %s flags=%#x", strings.Join(s, " "), c.Flags))
}

func (f *fakeKernel) Unmount(path string, flags int) error {
	return f.rec("unmount", "unmount "+path)
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

func (f *fakeKernel) ProcessAlive(pid int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.alive[pid]
}

func (f *fakeKernel) Kill(pid int, sig syscall.Signal) error {
	err := f.rec("kill", fmt.Sprintf("kill %d %d", pid, int(sig)))
	if err == nil && sig == syscall.SIGKILL {
		f.mu.Lock()
		delete(f.alive, pid)
		if fd := f.fifos[pid]; fd != nil {
			fd.Close() // the helper is gone: so is its hold on the fifo
			delete(f.fifos, pid)
		}
		f.mu.Unlock()
	}
	return err
}

func (f *fakeKernel) JailProcesses(jid int) ([]int, error) {
	return f.jailPs, f.rec("pgrep", fmt.Sprintf("pgrep -j %d", jid))
}

func statusOf(s string) ociruntime.Status { return ociruntime.Status(s) }
