package jail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/freebsdabi"
	"github.com/stockade/stockade/internal/phase"
	"github.com/stockade/stockade/ociruntime"
)

// Runtime runs bundles as FreeBSD jails, with the containers' state under
// a root directory. It implements ociruntime.Runtime.
type Runtime struct {
	store store
	k     Kernel
	log   *slog.Logger
	// KillWait is how long Delete with force waits for the container's
	// process to end after SIGKILL.
	KillWait time.Duration
	// ExecIODrain bounds how long a non-detached Exec goes on copying the
	// process's output (to streams that are not files) once the process
	// ended: a descendant it left behind may hold its stdout or stderr
	// open for ever. DefaultExecIODrain unless changed.
	ExecIODrain time.Duration
	// DyingWait bounds how long Delete waits, after removing the jail,
	// for the kernel to let the dying jail go before it unmounts the
	// container's file systems: a dying jail keeps its root vnode while
	// anything refers to it (a TCP socket in TIME_WAIT does for 2*MSL,
	// 60 s by default), and unmounting a nullfs under it fails with EBUSY
	// meanwhile. Once DyingWait passed, Delete unmounts with MNT_FORCE.
	// DefaultDyingWait unless changed.
	DyingWait time.Duration

	// envTimer takes the timing the parent asked for through the
	// environment once; timer is it, or nil (see timing).
	envTimer sync.Once
	timer    *phase.Timer
}

// DefaultDyingWait is Runtime.DyingWait's default.
const DefaultDyingWait = 15 * time.Second

var _ ociruntime.Runtime = (*Runtime)(nil)

// New returns a runtime keeping its state under root and acting through
// k. A nil log discards.
func New(root string, k Kernel, log *slog.Logger) *Runtime {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Runtime{store: store{root: root}, k: k, log: log, KillWait: 10 * time.Second, ExecIODrain: DefaultExecIODrain, DyingWait: DefaultDyingWait}
}

// LoadSpec reads bundle/config.json.
func LoadSpec(bundle string) (*specs.Spec, error) {
	path := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bundle config: %w", err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("bundle config %s: %w", path, err)
	}
	return &spec, nil
}

// creation is one Create in progress: its record and lock.
type creation struct {
	ctx context.Context // carries the phase timer
	r   *Runtime
	rec *Record
}

// did appends an undo step and saves the record, so that a crash leaves a
// journal Delete can replay.
func (c *creation) did(u UndoStep) error {
	c.rec.Undo = append(c.rec.Undo, u)
	err := c.r.store.write(c.rec)
	phase.Mark(c.ctx, "create state-write")
	return err
}

// Create makes the container: the kernel modules its parameters need,
// the mounts (in spec order, each followed by its devfs rules), the jail,
// the address aliases, the vnet interfaces, the rctl rules, the prestart
// and createRuntime hooks, the exec fifo, the init helper, the pid file
// and the createContainer hooks. Any failure releases what was made, in
// reverse.
func (r *Runtime) Create(ctx context.Context, id string, opts ociruntime.CreateOpts) (err error) {
	ctx, done := r.timing(ctx, "create startup")
	defer done()
	if err := ValidateID(id); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	bundle, err := filepath.Abs(opts.Bundle)
	if err != nil {
		return fmt.Errorf("create %s: bundle: %w", id, err)
	}
	spec, err := LoadSpec(bundle)
	if err != nil {
		return fmt.Errorf("create %s: %w", id, err)
	}
	if err := MergeRunjExtension(spec, bundle); err != nil {
		return fmt.Errorf("create %s: %w", id, err)
	}
	if spec.Root == nil || spec.Root.Path == "" {
		return fmt.Errorf("create %s: %w: no root.path", id, ErrInvalidSpec)
	}
	rootfs := spec.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	if fi, err := os.Stat(rootfs); err != nil || !fi.IsDir() {
		return fmt.Errorf("create %s: root file system %s is not a directory", id, rootfs)
	}
	phase.Mark(ctx, "create spec")
	cfg, err := JailParams(spec, id, rootfs)
	if err != nil {
		return fmt.Errorf("create %s: %w", id, err)
	}
	phase.Mark(ctx, "create jail-params")
	steps, err := PlanMounts(spec, bundle, rootfs)
	if err != nil {
		return fmt.Errorf("create %s: %w", id, err)
	}
	phase.Mark(ctx, "create mount-plan")
	rules, err := RctlRules(cfg.Name, spec.Annotations)
	if err != nil {
		return fmt.Errorf("create %s: %w", id, err)
	}
	phase.Mark(ctx, "create rctl-plan")
	plan, err := NewInitPlan(spec.Process, 0, opts.IO.ConsoleSocket)
	if err != nil {
		return fmt.Errorf("create %s: %w", id, err)
	}
	plan.ExtraFiles = len(opts.IO.ExtraFiles)
	phase.Mark(ctx, "create init-plan")

	ann := map[string]string{}
	for k, v := range spec.Annotations {
		ann[k] = v
	}
	rec := &Record{
		State: specs.State{Version: specs.Version, ID: id, Status: specs.StateCreating,
			Bundle: bundle, Annotations: ann},
		JailName: cfg.Name, Rootfs: rootfs, Hooks: spec.Hooks, Created: time.Now().UTC(),
	}
	lock, err := r.store.create(rec)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	defer lock.Close()
	phase.Mark(ctx, "create state-dir")
	c := &creation{ctx: ctx, r: r, rec: rec}
	defer func() {
		if err == nil {
			return
		}
		if uerr := r.undo(ctx, rec); uerr != nil {
			r.log.Warn("create: rollback was incomplete", "id", id, "err", uerr)
			err = fmt.Errorf("%w (rollback: %v)", err, uerr)
		}
		if rerr := r.store.remove(id); rerr != nil {
			r.log.Warn("create: rollback", "id", id, "err", rerr)
		}
	}()
	if err := r.createSteps(ctx, c, cfg, steps, rules, plan, opts); err != nil {
		return fmt.Errorf("create %s: %w", id, err)
	}
	return nil
}

func (r *Runtime) createSteps(ctx context.Context, c *creation, cfg *JailConfig, steps []MountStep, rules []string, plan *InitPlan, opts ociruntime.CreateOpts) error {
	rec := c.rec
	// First, as the mounts may need them too (linux64 makes /dev/shm).
	// Modules are not unloaded: jail(8) leaves them too.
	for _, m := range cfg.Modules {
		if err := r.k.LoadModule(m.Param, m.File); err != nil {
			return fmt.Errorf("jail parameter %s: %w", m.Param, err)
		}
	}
	phase.Mark(ctx, "create kldload")
	files := make([]bool, len(steps))
	for i, s := range steps {
		if s.Mount.Type == "nullfs" && s.Destination != "/" {
			fi, err := os.Stat(s.Mount.Source)
			if err != nil {
				return fmt.Errorf("mount on %s: source: %w", s.Destination, err)
			}
			files[i] = !fi.IsDir()
		}
	}
	if len(steps) > 0 && steps[0].Destination == "/" {
		// The root turns read-only with the first mount: every mount
		// point in it must be made before. One that a later mount
		// covers (a directory in a tmpfs) is made again there.
		for i, s := range steps[1:] {
			if _, err := ResolveTarget(rec.Rootfs, s.Destination, true, files[i+1]); err != nil {
				return err
			}
		}
	}
	phase.Mark(ctx, "create mount-points")
	for i, s := range steps {
		target, err := ResolveTarget(rec.Rootfs, s.Destination, true, files[i])
		if err != nil {
			return err
		}
		call, err := s.Call(target)
		if err != nil {
			return err
		}
		if err := r.k.Nmount(call); err != nil {
			return fmt.Errorf("mount %s on %s: %w", s.Mount.Type, s.Destination, err)
		}
		phase.Mark(ctx, "create nmount")
		if err := c.did(UndoStep{Op: UndoUnmount, Path: target}); err != nil {
			return err
		}
		if rules := s.DevfsRules(target); len(rules) > 0 {
			for _, args := range rules {
				if err := r.k.Devfs(args...); err != nil {
					return fmt.Errorf("devfs rules on %s: %w", s.Destination, err)
				}
			}
			phase.Mark(ctx, "create devfs-rules")
		}
	}
	jid, err := r.k.JailSet(cfg.Params, JailCreate)
	if err != nil {
		return fmt.Errorf("jail_set: %w", err)
	}
	rec.JID = jid
	rec.Annotations[AnnotationJID] = strconv.Itoa(jid)
	phase.Mark(ctx, "create jail_set")
	if err := c.did(UndoStep{Op: UndoJailRemove, JID: jid}); err != nil {
		return err
	}
	if cfg.Interface != "" {
		for _, p := range cfg.IP4 {
			if err := r.alias(c, cfg.Interface, "inet", p.String(), p.Addr().String()); err != nil {
				return err
			}
		}
		for _, p := range cfg.IP6 {
			if err := r.alias(c, cfg.Interface, "inet6", p.String(), p.Addr().String()); err != nil {
				return err
			}
		}
	}
	for _, ifc := range cfg.VnetInterfaces {
		j := strconv.Itoa(jid)
		if err := r.k.Ifconfig(ifc, "vnet", j); err != nil {
			return fmt.Errorf("move %s into the jail's vnet: %w", ifc, err)
		}
		phase.Mark(ctx, "create vnet")
		if err := c.did(UndoStep{Op: UndoIfconfig, Args: []string{ifc, "-vnet", j}}); err != nil {
			return err
		}
	}
	for _, rule := range rules {
		if err := r.k.RctlAdd(rule); err != nil {
			return fmt.Errorf("rctl rule %s: %w", rule, err)
		}
		phase.Mark(ctx, "create rctl")
		if err := c.did(UndoStep{Op: UndoRctl, Rule: rule}); err != nil {
			return err
		}
	}
	// The state on disk is whole here: every change to rec since it was
	// made went to disk with the undo step that followed it (the jail's
	// id with its removal).
	if h := rec.Hooks; h != nil {
		if err := RunHooks(ctx, "prestart", h.Prestart, rec.State); err != nil { //nolint:staticcheck // prestart is deprecated, still run
			return err
		}
		if err := RunHooks(ctx, "createRuntime", h.CreateRuntime, rec.State); err != nil {
			return err
		}
		phase.Mark(ctx, "create hooks")
	}
	fifo := filepath.Join(r.store.dir(rec.ID), FifoFile)
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		return fmt.Errorf("exec fifo: %w", err)
	}
	phase.Mark(ctx, "create exec-fifo")
	plan.JID, plan.Fifo = jid, fifo
	proc, err := r.k.StartInit(plan, opts.IO)
	if err != nil {
		return fmt.Errorf("start the container process: %w", err)
	}
	rec.Pid = proc.Pid()
	rec.Status = specs.StateCreated
	phase.Mark(ctx, "create init-helper")
	if err := c.did(UndoStep{Op: UndoKill, Pid: rec.Pid}); err != nil {
		return err
	}
	if opts.PidFile != "" {
		if err := writePidFile(opts.PidFile, rec.Pid); err != nil {
			return err
		}
		phase.Mark(ctx, "create pid-file")
	}
	if h := rec.Hooks; h != nil {
		if err := RunHooks(ctx, "createContainer", h.CreateContainer, rec.State); err != nil {
			return err
		}
		phase.Mark(ctx, "create hooks")
	}
	return nil
}

// alias adds addr to ifc and journals its removal.
func (r *Runtime) alias(c *creation, ifc, af, prefix, addr string) error {
	if err := r.k.Ifconfig(ifc, af, prefix, "alias"); err != nil {
		return fmt.Errorf("add alias %s to %s: %w", prefix, ifc, err)
	}
	phase.Mark(c.ctx, "create ip-alias")
	return c.did(UndoStep{Op: UndoIfconfig, Args: []string{ifc, af, addr, "-alias"}})
}

// writePidFile writes pid atomically, as runc does.
func writePidFile(path string, pid int) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	return nil
}

// undo releases rec's journal in reverse, going on after failures, and
// returns them joined. Processes already gone and mounts already unmounted
// are not failures.
//
// Before the first unmount after the jail is removed, it waits up to
// DyingWait for the dying jail to be gone (waitJailGone), and unmounts
// with MNT_FORCE when it is not.
func (r *Runtime) undo(ctx context.Context, rec *Record) error {
	var errs []error
	var left []UndoStep
	// The jail is gone already when the journal no longer has its
	// removal (an earlier Delete did it).
	jailRemoved := rec.JID > 0 && !slices.ContainsFunc(rec.Undo, func(u UndoStep) bool { return u.Op == UndoJailRemove })
	unmountFlags := -1 // not decided yet
	for i := len(rec.Undo) - 1; i >= 0; i-- {
		u := rec.Undo[i]
		var err error
		switch u.Op {
		case UndoKill:
			if r.liveIn(u.Pid, rec.JID) {
				if err = r.k.Kill(u.Pid, syscall.SIGKILL); errors.Is(err, syscall.ESRCH) {
					err = nil
				}
			}
			phase.Mark(ctx, "undo kill")
		case UndoRctl:
			err = r.k.RctlRemove(u.Rule)
			phase.Mark(ctx, "undo rctl")
		case UndoIfconfig:
			if err = r.k.Ifconfig(u.Args...); err != nil && IfconfigUndone(u.Args, err) {
				r.log.Info("undo: already undone", "step", describe(u), "err", err)
				err = nil
			}
			phase.Mark(ctx, "undo ifconfig")
		case UndoJailRemove:
			if err = r.k.JailRemove(u.JID); err == nil && u.JID == rec.JID {
				jailRemoved = true
			}
			phase.Mark(ctx, "undo jail_remove")
		case UndoUnmount:
			if unmountFlags < 0 {
				unmountFlags = 0
				if jailRemoved && !r.waitJailGone(rec) {
					r.log.Warn("delete: the jail is still dying; unmounting with force",
						"id", rec.ID, "jid", rec.JID, "after", r.DyingWait)
					unmountFlags = freebsdabi.MntForce
				}
				phase.Mark(ctx, "undo dying-wait")
			}
			err = r.k.Unmount(u.Path, unmountFlags)
			phase.Mark(ctx, "undo unmount")
		default:
			err = fmt.Errorf("unknown undo step %q", u.Op)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", describe(u), err))
			left = append([]UndoStep{u}, left...)
		}
	}
	rec.Undo = left
	return errors.Join(errs...)
}

// waitJailGone waits up to DyingWait for the container's jail, removed,
// to be gone from the kernel (a jail of that id with another name is not
// it), and tells whether it is. It looks again after 1 ms, then after
// twice the time before, up to 100 ms apart: a jail without sockets
// lingering is gone within a few milliseconds of its last process.
func (r *Runtime) waitJailGone(rec *Record) bool {
	deadline := time.Now().Add(r.DyingWait)
	pause := newPoller(100 * time.Millisecond)
	for {
		name, found, err := r.k.JailLookup(rec.JID)
		if err != nil {
			r.log.Warn("delete: look the dying jail up", "jid", rec.JID, "err", err)
			return false
		}
		if !found || name != rec.JailName {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(min(pause.next(), time.Until(deadline)))
	}
}

// IfconfigUndone tells whether the failure err of the ifconfig(8) undo
// step args means that what it undoes is undone already, as Delete finds
// once the jail is removed:
//
//   - "IF -vnet JID": the jail is gone or dying ("jail ... not found", "is
//     dying"), the interface is not in it any more (ENXIO from
//     SIOCSIFRVNET, "Device not configured"), or its vnet is being torn
//     down (EBUSY), which returns the interface to the host by itself;
//   - "IF AF ADDR -alias": the address is not there (EADDRNOTAVAIL, "Can't
//     assign requested address"), or the interface is gone ("does not
//     exist").
func IfconfigUndone(args []string, err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(msg, s) {
				return true
			}
		}
		return false
	}
	switch {
	case slices.Contains(args, "-vnet"):
		jailGone := strings.Contains(msg, "jail") && (has("not found", "is dying"))
		return jailGone || errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.EBUSY) ||
			has("Device not configured", "Device busy")
	case slices.Contains(args, "-alias"):
		return errors.Is(err, syscall.EADDRNOTAVAIL) ||
			has("Can't assign requested address", "does not exist")
	}
	return false
}

func describe(u UndoStep) string {
	switch u.Op {
	case UndoKill:
		return fmt.Sprintf("kill %d", u.Pid)
	case UndoRctl:
		return "rctl -r " + u.Rule
	case UndoIfconfig:
		return fmt.Sprintf("ifconfig %v", u.Args)
	case UndoJailRemove:
		return fmt.Sprintf("jail_remove %d", u.JID)
	case UndoUnmount:
		return "unmount " + u.Path
	}
	return u.Op
}

// liveIn tells whether process pid runs in jail jid: a pid that the
// system gave to another process since (outside the jail) is not the
// container's.
func (r *Runtime) liveIn(pid, jid int) bool {
	if pid <= 0 || jid <= 0 {
		return false
	}
	p, ok, err := r.k.Process(pid)
	if err != nil {
		r.log.Warn("process table", "pid", pid, "err", err)
		return false
	}
	return ok && p.LiveIn(jid)
}

// jailHeld tells whether the container's jail is still the runtime's: made
// and not removed (its removal is still in the journal). Once removed, its
// id may name someone else's jail.
func jailHeld(rec *Record) bool {
	return rec.JID > 0 && slices.ContainsFunc(rec.Undo, func(u UndoStep) bool {
		return u.Op == UndoJailRemove && u.JID == rec.JID
	})
}

// status derives the container's status from the kernel, and tells
// whether the container's own process runs. Created while the exec fifo
// exists and the process runs in the jail; running while it runs after
// start, and, as runj reports it, while any process it left runs in the
// jail (so that kill --all reaches them); stopped otherwise.
func (r *Runtime) status(rec *Record) (ociruntime.Status, bool) {
	if rec.Pid == 0 {
		if rec.Status == specs.StateCreating {
			return ociruntime.StatusCreating, false
		}
		return ociruntime.StatusStopped, false
	}
	if !jailHeld(rec) {
		return ociruntime.StatusStopped, false
	}
	_, err := os.Lstat(filepath.Join(r.store.dir(rec.ID), FifoFile))
	fifo := err == nil
	if r.liveIn(rec.Pid, rec.JID) {
		if fifo {
			return ociruntime.StatusCreated, true
		}
		return ociruntime.StatusRunning, true
	}
	if !fifo {
		pids, err := r.k.JailProcesses(rec.JID)
		if err != nil {
			r.log.Warn("processes of the jail", "id", rec.ID, "jid", rec.JID, "err", err)
		}
		if len(pids) > 0 {
			return ociruntime.StatusRunning, false
		}
	}
	return ociruntime.StatusStopped, false
}

// state is the container's OCI state; its pid is 0 once the container's
// own process is gone.
func (r *Runtime) state(rec *Record) specs.State {
	st := rec.State
	status, main := r.status(rec)
	st.Status = specs.ContainerState(status)
	if !main {
		st.Pid = 0
	}
	return st
}

// Start releases the container's process: it runs the startContainer
// hooks, writes a byte to the exec fifo and removes it, then runs the
// poststart hooks (whose failures are logged).
func (r *Runtime) Start(ctx context.Context, id string) error {
	ctx, done := r.timing(ctx, "start startup")
	defer done()
	rec, lock, err := r.open("start", id)
	if err != nil {
		return err
	}
	defer lock.Close()
	phase.Mark(ctx, "start lock+read")
	status, _ := r.status(rec)
	if err := CheckTransition(status, OpStart, false); err != nil {
		return fmt.Errorf("start %s: %w", id, err)
	}
	phase.Mark(ctx, "start status")
	// The hooks' state: the created container's, as status found it.
	st := rec.State
	st.Status = specs.StateCreated
	if h := rec.Hooks; h != nil {
		if err := RunHooks(ctx, "startContainer", h.StartContainer, st); err != nil {
			return fmt.Errorf("start %s: %w", id, err)
		}
		phase.Mark(ctx, "start hooks")
	}
	fifo := filepath.Join(r.store.dir(id), FifoFile)
	f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("start %s: the container process does not wait on its fifo: %w", id, err)
	}
	_, werr := f.Write([]byte{0})
	f.Close()
	if werr != nil {
		return fmt.Errorf("start %s: exec fifo: %w", id, werr)
	}
	if err := os.Remove(fifo); err != nil {
		return fmt.Errorf("start %s: exec fifo: %w", id, err)
	}
	phase.Mark(ctx, "start exec-fifo")
	rec.Status = specs.StateRunning
	if err := r.store.write(rec); err != nil {
		return fmt.Errorf("start %s: %w", id, err)
	}
	phase.Mark(ctx, "start state-write")
	if h := rec.Hooks; h != nil {
		st.Status = specs.StateRunning
		if err := RunHooks(ctx, "poststart", h.Poststart, st); err != nil {
			r.log.Warn("poststart hook failed", "id", id, "err", err)
		}
		phase.Mark(ctx, "start hooks")
	}
	return nil
}

// open validates id, takes the container's lock and reads its record, for
// an operation that acts on the container: Start, Kill, Exec and Delete
// hold the lock while they act, so that none of them acts on a container
// another one is deleting (signals a pid or attaches to a jail id the
// system may already have given to someone else).
func (r *Runtime) open(op, id string) (*Record, *os.File, error) {
	if err := ValidateID(id); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	lock, err := r.store.lock(id)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	rec, err := r.store.read(id)
	if err != nil {
		lock.Close()
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	return rec, lock, nil
}

// State returns the container's state, its status derived from the
// kernel, with the jail's id in the org.freebsd.jail.jid annotation.
func (r *Runtime) State(ctx context.Context, id string) (specs.State, error) {
	ctx, done := r.timing(ctx, "state startup")
	defer done()
	if err := ValidateID(id); err != nil {
		return specs.State{}, fmt.Errorf("state: %w", err)
	}
	rec, err := r.store.read(id)
	if err != nil {
		return specs.State{}, fmt.Errorf("state: %w", err)
	}
	phase.Mark(ctx, "state read")
	st := r.state(rec)
	phase.Mark(ctx, "state status")
	return st, nil
}

// Kill signals the container's process, or with all every process of its
// jail as well. A process is signalled only while it runs in the
// container's jail. Once the container's own process has exited, only
// all reaches what it left in the jail (runj's shim sends `kill --all`
// then).
func (r *Runtime) Kill(ctx context.Context, id string, sig syscall.Signal, all bool) error {
	ctx, done := r.timing(ctx, "kill startup")
	defer done()
	rec, lock, err := r.open("kill", id)
	if err != nil {
		return err
	}
	defer lock.Close()
	phase.Mark(ctx, "kill lock+read")
	status, _ := r.status(rec)
	if err := CheckTransition(status, OpKill, false); err != nil {
		return fmt.Errorf("kill %s: %w", id, err)
	}
	phase.Mark(ctx, "kill status")
	if err := r.signal(rec, sig, all); err != nil {
		return fmt.Errorf("kill %s: %w", id, err)
	}
	phase.Mark(ctx, "kill signal")
	return nil
}

// KillProcess signals process pid of the container (runj's `kill --pid`,
// with which its containerd shim signals an exec'd process). The
// container must be created or running, and pid must run in its jail:
// a pid outside it is never signalled.
func (r *Runtime) KillProcess(_ context.Context, id string, pid int, sig syscall.Signal) error {
	rec, lock, err := r.open("kill", id)
	if err != nil {
		return err
	}
	defer lock.Close()
	status, _ := r.status(rec)
	if err := CheckTransition(status, OpKill, false); err != nil {
		return fmt.Errorf("kill %s: %w", id, err)
	}
	if !r.liveIn(pid, rec.JID) {
		return fmt.Errorf("kill %s --pid %d: %w: no such process in the container's jail %d", id, pid, ociruntime.ErrNotRunning, rec.JID)
	}
	if err := r.k.Kill(pid, sig); err != nil {
		return fmt.Errorf("kill %s --pid %d: %w", id, pid, err)
	}
	return nil
}

// signal sends sig to the container's process while it runs in the jail,
// and with all to every other process of the jail.
func (r *Runtime) signal(rec *Record, sig syscall.Signal, all bool) error {
	main := r.liveIn(rec.Pid, rec.JID)
	if main {
		if err := r.k.Kill(rec.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return err
		}
	}
	if !all {
		if !main {
			return fmt.Errorf("process %d has exited: %w (kill --all signals what it left in the jail)", rec.Pid, ociruntime.ErrNotRunning)
		}
		return nil
	}
	if !jailHeld(rec) {
		return nil
	}
	pids, err := r.k.JailProcesses(rec.JID)
	if err != nil {
		return fmt.Errorf("processes of jail %d: %w", rec.JID, err)
	}
	for _, pid := range pids {
		if pid == rec.Pid {
			continue
		}
		if err := r.k.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return err
		}
	}
	return nil
}

// Delete releases the container: a running one only with force (its
// processes are killed first). The vnet interfaces come back, the rctl
// rules and address aliases go, the jail is removed and the mounts are
// unmounted in reverse; then the poststop hooks run (failures are logged)
// and the state goes. When some release fails the state stays, with what
// is left to do, and Delete can be run again.
func (r *Runtime) Delete(ctx context.Context, id string, force bool) error {
	ctx, done := r.timing(ctx, "delete startup")
	defer done()
	rec, lock, err := r.open("delete", id)
	if err != nil {
		return err
	}
	defer lock.Close()
	phase.Mark(ctx, "delete lock+read")
	status, _ := r.status(rec)
	if err := CheckTransition(status, OpDelete, force); err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	phase.Mark(ctx, "delete status")
	if status == ociruntime.StatusRunning || status == ociruntime.StatusCreated {
		if err := r.signal(rec, syscall.SIGKILL, true); err != nil {
			return fmt.Errorf("delete %s: %w", id, err)
		}
		phase.Mark(ctx, "delete kill")
		if err := r.waitKilled(rec); err != nil {
			return fmt.Errorf("delete %s: %w", id, err)
		}
		phase.Mark(ctx, "delete kill-wait")
	}
	// The poststop hooks' state is taken before the release (its pid is
	// 0 once the process is gone); with no hooks it is not needed.
	var st specs.State
	if rec.Hooks != nil {
		st = r.state(rec)
	}
	if err := r.undo(ctx, rec); err != nil {
		if werr := r.store.write(rec); werr != nil {
			r.log.Warn("delete: save state", "id", id, "err", werr)
		}
		return fmt.Errorf("delete %s: %w", id, err)
	}
	if h := rec.Hooks; h != nil {
		st.Status = specs.StateStopped
		if err := RunHooks(ctx, "poststop", h.Poststop, st); err != nil {
			r.log.Warn("poststop hook failed", "id", id, "err", err)
		}
		phase.Mark(ctx, "delete hooks")
	}
	err = r.store.remove(id)
	phase.Mark(ctx, "delete state-remove")
	return err
}

// killWaitPoll is the longest pause between two looks at the process
// table while Delete waits for the killed process to end.
const killWaitPoll = 20 * time.Millisecond

// waitKilled waits up to KillWait for the container's process, sent
// SIGKILL, to be gone from its jail. It looks again after 1 ms, then
// after twice the time before, up to killWaitPoll apart: a killed process
// is usually gone within a millisecond.
func (r *Runtime) waitKilled(rec *Record) error {
	deadline := time.Now().Add(r.KillWait)
	pause := newPoller(killWaitPoll)
	for r.liveIn(rec.Pid, rec.JID) {
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d survived SIGKILL for %s", rec.Pid, r.KillWait)
		}
		time.Sleep(pause.next())
	}
	return nil
}

// Exec runs another process in the running container's jail and, unless
// opts.Detach, waits for it and returns its exit code.
//
// Without Detach, the streams of opts.IO that are not files reach the
// process through pipes the runtime copies: once the process ended, Exec
// waits at most ExecIODrain for its output to end, then stops copying
// (and stops feeding its stdin), so that a descendant holding the output
// open cannot make Exec hang. With Detach, opts.IO is passed on as it is.
func (r *Runtime) Exec(_ context.Context, id string, opts ociruntime.ExecOpts) (int, error) {
	rec, lock, err := r.open("exec", id)
	if err != nil {
		return -1, err
	}
	// Held until the process is in the jail (and its pid file written),
	// not while it runs.
	unlock := sync.OnceFunc(func() { lock.Close() })
	defer unlock()
	status, _ := r.status(rec)
	if err := CheckTransition(status, OpExec, false); err != nil {
		return -1, fmt.Errorf("exec %s: %w", id, err)
	}
	plan, err := NewInitPlan(opts.Process, rec.JID, opts.IO.ConsoleSocket)
	if err != nil {
		return -1, fmt.Errorf("exec %s: %w", id, err)
	}
	plan.ExtraFiles = len(opts.IO.ExtraFiles)
	sio := opts.IO
	var relay *stdioRelay
	if !opts.Detach {
		if relay, err = newStdioRelay(opts.IO); err != nil {
			return -1, fmt.Errorf("exec %s: stdio: %w", id, err)
		}
		sio = relay.child
	}
	proc, err := r.k.StartInit(plan, sio)
	if err != nil {
		if relay != nil {
			relay.abort()
		}
		return -1, fmt.Errorf("exec %s: %w", id, err)
	}
	if relay != nil {
		relay.start(opts.IO.Stdin)
	}
	if opts.PidFile != "" {
		if err := writePidFile(opts.PidFile, proc.Pid()); err != nil {
			if relay != nil {
				// The process runs on; its output is no longer copied.
				relay.abort()
			}
			return -1, fmt.Errorf("exec %s: %w", id, err)
		}
	}
	unlock()
	if opts.Detach {
		return 0, nil
	}
	code, err := proc.Wait()
	if !relay.finish(r.ExecIODrain) {
		r.log.Warn("exec: output still open after the process ended; stopped copying it",
			"id", id, "pid", proc.Pid(), "after", r.ExecIODrain)
	}
	if err != nil {
		return -1, fmt.Errorf("exec %s: %w", id, err)
	}
	return code, nil
}

// ExecInPlace runs another process in the running container's jail in
// place of the caller, as runj's `exec` does: the calling process becomes
// the init helper (Kernel.ExecInit), then the program, so that the pid
// its parent knows (runj's containerd shim) is the program's, and the
// signals sent to it reach the program. opts.PidFile gets the caller's
// pid. opts.IO must be the caller's own standard streams and ExtraFiles
// its descriptors from 3 on; Detach is refused. The container's lock is
// held, across the exec, until the process is in the jail. It returns
// only on failure; a failure after the exec (in the helper) is reported on
// the standard error, with exit status 126 or 127.
func (r *Runtime) ExecInPlace(_ context.Context, id string, opts ociruntime.ExecOpts) error {
	if opts.Detach {
		return fmt.Errorf("exec %s: an exec in place cannot be detached", id)
	}
	rec, lock, err := r.open("exec", id)
	if err != nil {
		return err
	}
	defer lock.Close()
	status, _ := r.status(rec)
	if err := CheckTransition(status, OpExec, false); err != nil {
		return fmt.Errorf("exec %s: %w", id, err)
	}
	plan, err := NewInitPlan(opts.Process, rec.JID, opts.IO.ConsoleSocket)
	if err != nil {
		return fmt.Errorf("exec %s: %w", id, err)
	}
	plan.ExtraFiles = len(opts.IO.ExtraFiles)
	plan.InPlace = true
	// F_DUPFD gives a descriptor without close-on-exec, above the ones
	// the process is given.
	fd, err := unix.FcntlInt(lock.Fd(), unix.F_DUPFD, 3+plan.ExtraFiles)
	if err != nil {
		return fmt.Errorf("exec %s: keep the lock across exec: %w", id, err)
	}
	defer unix.Close(fd)
	plan.LockFd = fd
	if opts.PidFile != "" {
		if err := writePidFile(opts.PidFile, os.Getpid()); err != nil {
			return fmt.Errorf("exec %s: %w", id, err)
		}
	}
	if err := r.k.ExecInit(plan); err != nil {
		return fmt.Errorf("exec %s: %w", id, err)
	}
	return fmt.Errorf("exec %s: the init helper returned", id)
}

// List returns the states of all containers.
func (r *Runtime) List(_ context.Context) ([]specs.State, error) {
	ids, err := r.store.ids()
	if err != nil {
		return nil, err
	}
	var out []specs.State
	for _, id := range ids {
		rec, err := r.store.read(id)
		if err != nil {
			r.log.Warn("list: skipping", "id", id, "err", err)
			continue
		}
		out = append(out, r.state(rec))
	}
	return out, nil
}
