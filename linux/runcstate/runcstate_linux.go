package runcstate

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Load reads container id's state under runc's root. A container runc
// does not know, or a state.json this package does not, is ErrFallBack:
// runc then says what is wrong in its words.
func Load(root, id string) (*Container, error) {
	if id == "" || id == "." || id == ".." || filepath.Base(id) != id {
		return nil, fmt.Errorf("%w: container id %q", ErrFallBack, id)
	}
	dir := filepath.Join(root, id)
	data, err := os.ReadFile(filepath.Join(dir, stateFileName))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFallBack, err)
	}
	st, err := parseState(data, id)
	if err != nil {
		return nil, err
	}
	return &Container{dir: dir, st: st}, nil
}

// Status is the container's status as runc 1.1 works it out: paused when
// its freezer is frozen (ErrFallBack: left to runc), else from its init
// process and exec fifo (runType).
func (c *Container) Status() (Status, error) {
	if err := c.checkFreezer(); err != nil {
		return Stopped, err
	}
	stat, statErr := readProcStat(c.st.InitPid)
	_, fifoErr := os.Stat(filepath.Join(c.dir, execFifoName))
	return runType(c.st, stat, statErr, fifoErr == nil), nil
}

// checkFreezer returns nil when the container's freezer says thawed (or
// it has none), and ErrFallBack otherwise.
func (c *Container) checkFreezer() error {
	path, v2, ok := c.freezerFile()
	if !ok {
		return nil // runc: no freezer, an undefined state, not paused
	}
	data, err := os.ReadFile(path)
	missing := errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENODEV)
	return checkThawed(v2, string(data), err, missing)
}

// freezerFile is the file that freezes the container's cgroup, as runc
// 1.1's cgroup manager picks it: v1's freezer.state when the container has
// a freezer cgroup, else on a v2-only host cgroup.freeze; ok is false when
// there is none.
func (c *Container) freezerFile() (path string, v2, ok bool) {
	if p := c.st.CgroupPaths["freezer"]; p != "" {
		return filepath.Join(p, "freezer.state"), false, true
	}
	if p := c.st.CgroupPaths[""]; p != "" && unifiedHierarchy() {
		return filepath.Join(p, "cgroup.freeze"), true, true
	}
	return "", false, false
}

// Pause freezes a created or running container's cgroup as `runc pause`
// does (runc's state then reads it paused). A freezer that does not
// settle at once is thawed again and left to runc, whose retries are
// longer; any other status is ErrFallBack.
func (c *Container) Pause() error {
	s, err := c.Status()
	if err != nil {
		return err
	}
	if s != Created && s != Running {
		return fmt.Errorf("%w: container is %s", ErrFallBack, s)
	}
	path, v2, ok := c.freezerFile()
	if !ok {
		return fmt.Errorf("%w: no freezer", ErrFallBack)
	}
	frozen, thawed := "FROZEN", "THAWED"
	if v2 {
		frozen, thawed = "1", "0"
	}
	for range 100 {
		if err := writeControl(path, frozen); err != nil {
			break
		}
		if v2 {
			if events, err := os.ReadFile(filepath.Join(filepath.Dir(path), "cgroup.events")); err == nil &&
				strings.Contains("\n"+string(events), "\nfrozen 1") {
				return nil
			}
			time.Sleep(time.Millisecond)
			continue
		}
		state, err := os.ReadFile(path)
		if err != nil {
			break
		}
		switch strings.TrimSpace(string(state)) {
		case "FROZEN":
			return nil
		case "FREEZING":
			continue
		}
		break
	}
	writeControl(path, thawed) // undone as well as it can be
	return fmt.Errorf("%w: the freezer did not settle", ErrFallBack)
}

// Resume thaws a paused container as `runc resume` does. One that is not
// plainly frozen by its own freezer (v1: freezer.state FROZEN and
// freezer.self_freezing 1; v2: cgroup.freeze 1) is ErrFallBack.
func (c *Container) Resume() error {
	path, v2, ok := c.freezerFile()
	if !ok {
		return fmt.Errorf("%w: no freezer", ErrFallBack)
	}
	state, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: freezer: %v", ErrFallBack, err)
	}
	thawed := "0"
	if v2 {
		if strings.TrimSpace(string(state)) != "1" {
			return fmt.Errorf("%w: not paused", ErrFallBack)
		}
	} else {
		self, err := os.ReadFile(filepath.Join(filepath.Dir(path), "freezer.self_freezing"))
		if strings.TrimSpace(string(state)) != "FROZEN" || err != nil || strings.TrimSpace(string(self)) != "1" {
			return fmt.Errorf("%w: not paused by its own freezer", ErrFallBack)
		}
		thawed = "THAWED"
	}
	if err := writeControl(path, thawed); err != nil {
		return fmt.Errorf("%w: thawing: %v", ErrFallBack, err)
	}
	return nil
}

// writeControl writes value to a cgroup control file, which must exist.
func writeControl(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// unifiedHierarchy tells whether /sys/fs/cgroup is cgroup v2 only (runc's
// test for its v2 manager).
func unifiedHierarchy() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// readProcStat reads /proc/PID/stat.
func readProcStat(pid int) (procStat, error) {
	if pid <= 0 {
		return procStat{}, errors.New("no init process")
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(data)
}

// State writes what `runc state` prints.
func (c *Container) State(w io.Writer) error {
	s, err := c.Status()
	if err != nil {
		return err
	}
	out, err := formatState(c.st, s)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrFallBack, err)
	}
	_, err = w.Write(out)
	return err
}

// Start starts a created container as `runc start` does: it opens the
// exec fifo its init is waiting on, reads the byte the init writes and
// removes the fifo. A container that is not created, or whose init dies
// before the fifo opens, is ErrFallBack. An error after the fifo opened
// is not: the container has started.
func (c *Container) Start() error {
	s, err := c.Status()
	if err != nil {
		return err
	}
	if s != Created {
		return fmt.Errorf("%w: container is %s", ErrFallBack, s)
	}
	path := filepath.Join(c.dir, execFifoName)
	done := make(chan startResult, 1)
	go func() {
		// Blocks until the init opens the fifo to write (it waits there).
		f, err := os.OpenFile(path, os.O_RDONLY, 0)
		if err != nil {
			done <- startResult{err: err}
			return
		}
		data, err := io.ReadAll(f)
		f.Close()
		done <- startResult{data: data, err: err, opened: true}
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case res := <-done:
			if !res.opened {
				return fmt.Errorf("%w: exec fifo: %v", ErrFallBack, res.err)
			}
			if res.err != nil {
				return fmt.Errorf("reading the exec fifo: %w", res.err)
			}
			if len(res.data) == 0 {
				return errors.New("cannot start an already running container")
			}
			return os.Remove(path)
		case <-tick.C:
			if st, err := readProcStat(c.st.InitPid); err == nil && st.State != 'Z' && st.StartTime == *c.st.InitStart {
				continue
			}
			return c.startAfterDeath(path, done)
		}
	}
}

// startAfterDeath ends Start when the init is gone: it may have written
// the fifo first (a process that started and ended at once) or not (it
// died waiting). The fifo is opened to write, so that the read in flight
// ends instead of blocking a thread for good; what it read tells which.
func (c *Container) startAfterDeath(path string, done <-chan startResult) error {
	select {
	case res := <-done: // the read ended as the init went
		if res.opened && res.err == nil && len(res.data) > 0 {
			return os.Remove(path)
		}
		return fmt.Errorf("%w: the init is gone", ErrFallBack)
	default:
	}
	for range 10 {
		f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			f.Close()
			break
		}
		if !errors.Is(err, syscall.ENXIO) { // ENXIO: no reader yet
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case res := <-done:
		if res.opened && res.err == nil && len(res.data) > 0 {
			return os.Remove(path) // it started
		}
	case <-time.After(time.Second):
	}
	return fmt.Errorf("%w: the init is gone", ErrFallBack)
}

// startResult is what Start's reader of the exec fifo got.
type startResult struct {
	data   []byte
	err    error
	opened bool
}

// Kill sends sig to the container's init, as `runc kill` without --all
// does, when it is created or running; otherwise ErrFallBack.
func (c *Container) Kill(sig syscall.Signal) error {
	s, err := c.Status()
	if err != nil {
		return err
	}
	if s != Created && s != Running {
		return fmt.Errorf("%w: container is %s", ErrFallBack, s)
	}
	if err := unix.Kill(c.st.InitPid, sig); err != nil {
		return fmt.Errorf("%w: kill: %v", ErrFallBack, err)
	}
	return nil
}

// Delete deletes a stopped container as `runc delete` does when that is
// only removing its cgroup directories and its state directory (see
// simple). Anything else — another status, hooks, a cgroup directory that
// does not go at once — is ErrFallBack; runc then finishes the work.
func (c *Container) Delete() error {
	s, err := c.Status()
	if err != nil {
		return err
	}
	if s != Stopped || !c.st.simple() {
		return fmt.Errorf("%w: a %s container, or not a simple one", ErrFallBack, s)
	}
	paths := make([]string, 0, len(c.st.CgroupPaths))
	for _, p := range c.st.CgroupPaths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("%w: cgroup path %q", ErrFallBack, p)
		}
		if err := unix.Rmdir(p); err != nil && err != unix.ENOENT {
			return fmt.Errorf("%w: cgroup %s: %v", ErrFallBack, p, err)
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("removing the state of %s: %w", c.st.ID, err)
	}
	return nil
}
