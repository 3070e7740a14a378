package jail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/internal/flock"
	"github.com/stockade/stockade/ociruntime"
)

// Files in a container's state directory, <root>/<id>.
const (
	StateFile = "state.json"
	LockFile  = "lock"
	FifoFile  = "exec.fifo"
)

// Undo operations of the journal.
const (
	UndoUnmount    = "unmount"
	UndoJailRemove = "jail_remove"
	UndoRctl       = "rctl_remove"
	UndoIfconfig   = "ifconfig"
	UndoKill       = "kill"
)

// UndoStep is one thing Create made, and how Delete (or a failed Create)
// releases it.
type UndoStep struct {
	Op   string   `json:"op"`
	Path string   `json:"path,omitempty"`
	JID  int      `json:"jid,omitempty"`
	Rule string   `json:"rule,omitempty"`
	Args []string `json:"args,omitempty"`
	Pid  int      `json:"pid,omitempty"`
}

// Record is what state.json holds about a container.
type Record struct {
	// State is the OCI state as last written; Status is recomputed from
	// the kernel when read.
	specs.State
	// JID is the jail's id, JailName its name.
	JID      int    `json:"jid,omitempty"`
	JailName string `json:"jailName"`
	// Rootfs is the root file system's host path.
	Rootfs string `json:"rootfs"`
	// Undo lists what Create made, in order; it is released in reverse.
	Undo []UndoStep `json:"undo,omitempty"`
	// Hooks are the spec's hooks (poststop runs at Delete).
	Hooks *specs.Hooks `json:"hooks,omitempty"`
	// Created is when Create began.
	Created time.Time `json:"created"`
}

// store keeps container records under root.
type store struct{ root string }

func (s store) dir(id string) string { return filepath.Join(s.root, id) }

// lock takes the container's lock (flock(2), exclusive), waiting for it.
// The lock file is made by create alone: a missing one is ErrNotFound, so
// that lock never adds a file to a directory Delete is removing. A lock
// taken on a file that was removed meanwhile (the container was deleted,
// and maybe made again) is dropped and taken again on the current file, so
// that two callers never both hold "the" lock.
func (s store) lock(id string) (*os.File, error) {
	path := filepath.Join(s.dir(id), LockFile)
	for {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("container %s: %w", id, ociruntime.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("container %s: lock: %w", id, err)
		}
		if err := flock.Lock(context.Background(), f, flock.Exclusive); err != nil {
			return nil, fmt.Errorf("container %s: lock: %w", id, err)
		}
		held, herr := f.Stat()
		cur, cerr := os.Stat(path)
		if herr != nil || cerr != nil || !os.SameFile(held, cur) {
			f.Close()
			continue
		}
		// A failed Create removes the state while holding the lock.
		if _, err := os.Stat(filepath.Join(s.dir(id), StateFile)); err != nil {
			f.Close()
			return nil, fmt.Errorf("container %s: %w", id, ociruntime.ErrNotFound)
		}
		return f, nil
	}
}

// create makes the container's directory, its lock (taken) and an initial
// record; an existing directory is ErrExists.
func (s store) create(rec *Record) (*os.File, error) {
	if err := os.MkdirAll(s.root, 0o711); err != nil {
		return nil, fmt.Errorf("state root: %w", err)
	}
	if err := os.Mkdir(s.dir(rec.ID), 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("container %s: %w", rec.ID, ociruntime.ErrExists)
		}
		return nil, fmt.Errorf("container %s: %w", rec.ID, err)
	}
	f, err := os.OpenFile(filepath.Join(s.dir(rec.ID), LockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err == nil {
		err = flock.Lock(context.Background(), f, flock.Exclusive)
	}
	if err == nil {
		err = s.write(rec)
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		os.RemoveAll(s.dir(rec.ID))
		return nil, fmt.Errorf("container %s: %w", rec.ID, err)
	}
	return f, nil
}

// read reads a record.
func (s store) read(id string) (*Record, error) {
	data, err := os.ReadFile(filepath.Join(s.dir(id), StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("container %s: %w", id, ociruntime.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	var rec Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("container %s: %s: %w", id, StateFile, err)
	}
	return &rec, nil
}

// write replaces a record atomically. Create writes it after every
// step (the journal), so it is compact: indenting took two thirds of the
// encoding's time.
func (s store) write(rec *Record) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.dir(rec.ID), StateFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir(rec.ID), StateFile)); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// remove deletes the container's directory: state.json first, so that
// the container is gone for everyone at once even should the rest fail.
func (s store) remove(id string) error {
	if err := os.Remove(filepath.Join(s.dir(id), StateFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("container %s: remove state: %w", id, err)
	}
	if err := os.RemoveAll(s.dir(id)); err != nil {
		return fmt.Errorf("container %s: remove state: %w", id, err)
	}
	return nil
}

// ids lists the containers.
func (s store) ids() ([]string, error) {
	entries, err := os.ReadDir(s.root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(s.root, e.Name(), StateFile)); err == nil {
				ids = append(ids, e.Name())
			}
		}
	}
	return ids, nil
}

// Operations checked against a container's status.
const (
	OpStart  = "start"
	OpKill   = "kill"
	OpDelete = "delete"
	OpExec   = "exec"
)

// CheckTransition tells whether op may run on a container in status st:
// start needs created; kill needs created or running; exec needs running;
// delete needs stopped or created, or any status with force. The error
// wraps ociruntime.ErrRunning or ErrNotRunning.
func CheckTransition(st ociruntime.Status, op string, force bool) error {
	switch op {
	case OpStart:
		if st == ociruntime.StatusCreated {
			return nil
		}
		if st == ociruntime.StatusRunning {
			return fmt.Errorf("cannot start: %w (already started)", ociruntime.ErrRunning)
		}
		return fmt.Errorf("cannot start a %s container: %w", st, ociruntime.ErrNotRunning)
	case OpKill:
		if st == ociruntime.StatusCreated || st == ociruntime.StatusRunning {
			return nil
		}
		return fmt.Errorf("cannot kill a %s container: %w", st, ociruntime.ErrNotRunning)
	case OpExec:
		if st == ociruntime.StatusRunning {
			return nil
		}
		return fmt.Errorf("cannot exec in a %s container: %w", st, ociruntime.ErrNotRunning)
	case OpDelete:
		if force || st == ociruntime.StatusStopped || st == ociruntime.StatusCreated || st == ociruntime.StatusCreating {
			return nil
		}
		return fmt.Errorf("cannot delete without force: %w", ociruntime.ErrRunning)
	}
	return fmt.Errorf("unknown operation %q", op)
}
