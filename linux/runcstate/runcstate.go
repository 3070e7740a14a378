// Package runcstate answers runc's light commands — state, start, kill and
// the delete of a stopped container — from runc's own state directory,
// without starting runc. stockade-runtime uses it on Linux so that the
// commands containerd's shim sends most often cost one program start, not
// two (see docs/ARCHITECTURE.md, stockade-runtime).
//
// The state directory is runc's private format: it is read only for a runc
// whose `runc --version` is 1.1 (Version, Supported), whose state.json
// holds what runc 1.1 writes. Anything the package is not sure of — a
// paused or freezing cgroup, a signal to all processes, hooks to run, a
// systemd cgroup, a shared pid namespace — is ErrFallBack, and the caller
// runs runc, which then does and says exactly what runc does. The
// portable part (parsing, the status rules, the state's output) is here;
// what touches the kernel is in runcstate_linux.go.
package runcstate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ErrFallBack says that runc itself must do what was asked: the package
// did nothing that changes the container.
var ErrFallBack = errors.New("runcstate: left to runc")

// DirectEnv is the environment variable that, set to 0, turns this
// package's shortcut off in stockade-runtime and the engine: runc then
// runs every command.
const DirectEnv = "STOCKADE_RUNTIME_DIRECT"

// Disabled tells whether DirectEnv turns the shortcut off.
func Disabled() bool { return os.Getenv(DirectEnv) == "0" }

// Container is one container of runc's state directory (Load).
type Container struct {
	dir string // <root>/<id>
	st  *stateFile
}

// Status is a container's status as runc reports it.
type Status int

// The statuses runc reports.
const (
	Created Status = iota
	Running
	Paused
	Stopped
)

// String is the word runc prints for s.
func (s Status) String() string {
	switch s {
	case Created:
		return "created"
	case Running:
		return "running"
	case Paused:
		return "paused"
	case Stopped:
		return "stopped"
	}
	return "unknown"
}

// stateFileName and execFifoName are runc's files in a container's state
// directory (<root>/<id>).
const (
	stateFileName = "state.json"
	execFifoName  = "exec.fifo"
)

// stateFile is what is read of runc 1.1's state.json.
type stateFile struct {
	ID        string    `json:"id"`
	InitPid   int       `json:"init_process_pid"`
	InitStart *uint64   `json:"init_process_start"`
	Created   time.Time `json:"created"`
	Config    *struct {
		Rootfs     string   `json:"rootfs"`
		Version    string   `json:"version"`
		Labels     []string `json:"labels"`
		Namespaces []struct {
			Type string `json:"type"`
			Path string `json:"path"`
		} `json:"namespaces"`
		Cgroups *struct {
			Systemd  bool `json:"Systemd"`
			Rootless bool `json:"Rootless"`
		} `json:"cgroups"`
		Hooks    map[string][]json.RawMessage `json:"Hooks"`
		IntelRdt json.RawMessage              `json:"intel_rdt"`
	} `json:"config"`
	Rootless     bool              `json:"rootless"`
	CgroupPaths  map[string]string `json:"cgroup_paths"`
	IntelRdtPath string            `json:"intel_rdt_path"`
}

// parseState reads a state.json for container id: one that lacks what
// runc 1.1 writes (its id, the init's start time, the config, the cgroup
// paths) is ErrFallBack.
func parseState(data []byte, id string) (*stateFile, error) {
	var st stateFile
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%w: state.json: %v", ErrFallBack, err)
	}
	if st.ID != id || st.InitStart == nil || st.Config == nil || st.Config.Cgroups == nil || st.CgroupPaths == nil {
		return nil, fmt.Errorf("%w: state.json is not runc 1.1's", ErrFallBack)
	}
	return &st, nil
}

// simple tells whether runc's destroy of this stopped container is only
// removing its cgroup directories and its state directory: it has its own
// pid namespace (so its processes died with its init), no poststop hook,
// no Intel RDT group, cgroupfs (not systemd) cgroups and is not rootless.
func (st *stateFile) simple() bool {
	ownPid := false
	for _, ns := range st.Config.Namespaces {
		if ns.Type == "NEWPID" && ns.Path == "" {
			ownPid = true
		}
	}
	rdt := len(st.Config.IntelRdt) != 0 && string(st.Config.IntelRdt) != "null"
	return ownPid && len(st.Config.Hooks["poststop"]) == 0 && !rdt && st.IntelRdtPath == "" &&
		!st.Config.Cgroups.Systemd && !st.Config.Cgroups.Rootless && !st.Rootless
}

// procStat is what runc reads of /proc/PID/stat: the process's state
// letter and its start time in clock ticks since boot.
type procStat struct {
	State     byte
	StartTime uint64
}

// parseProcStat parses the text of /proc/PID/stat.
func parseProcStat(data []byte) (procStat, error) {
	// The command (field 2) is in parentheses and may hold anything, so
	// the fields after it are counted from its last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procStat{}, errors.New("stat: no command field")
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state); field 22 (starttime) is f[19].
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, errors.New("stat: too few fields")
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("stat: start time: %w", err)
	}
	return procStat{State: f[0][0], StartTime: start}, nil
}

// runType is runc's status of a container that is not paused: stopped
// when its init is gone, a zombie or another process with its pid;
// created while the exec fifo (that start opens) is there; else running.
func runType(st *stateFile, stat procStat, statErr error, fifo bool) Status {
	if st.InitPid <= 0 || statErr != nil {
		return Stopped
	}
	if stat.StartTime != *st.InitStart || stat.State == 'Z' || stat.State == 'X' {
		return Stopped
	}
	if fifo {
		return Created
	}
	return Running
}

// checkThawed reads a container's freezer file as runc 1.1 does to tell
// whether it is paused: cgroup v1's freezer.state or v2's cgroup.freeze.
// Thawed, or a missing file, is nil; anything runc would look into
// further (v1 FROZEN, v2 1, a transition, an error) is ErrFallBack.
func checkThawed(v2 bool, content string, readErr error, missing bool) error {
	if missing {
		return nil
	}
	if readErr != nil {
		return fmt.Errorf("%w: freezer: %v", ErrFallBack, readErr)
	}
	content = strings.TrimSpace(content)
	if (!v2 && content == "THAWED") || (v2 && content == "0") {
		return nil
	}
	return fmt.Errorf("%w: freezer state %q", ErrFallBack, content)
}

// stateOutput is what `runc state` prints, field for field.
type stateOutput struct {
	Version     string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      string            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Owner       string            `json:"owner"`
}

// formatState is the JSON `runc state` prints for st in status s (no
// trailing newline, as runc's).
func formatState(st *stateFile, s Status) ([]byte, error) {
	out := stateOutput{
		Version: st.Config.Version, ID: st.ID, Pid: st.InitPid, Status: s.String(),
		Rootfs: st.Config.Rootfs, Created: st.Created,
	}
	if s == Stopped {
		out.Pid = 0
	}
	// runc keeps the bundle and the annotations as "key=value" labels.
	for _, l := range st.Config.Labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		if k == "bundle" {
			out.Bundle = v
			continue
		}
		if out.Annotations == nil {
			out.Annotations = map[string]string{}
		}
		out.Annotations[k] = v
	}
	return json.MarshalIndent(out, "", "  ")
}

// ParseVersion returns the version `runc --version` printed ("1.1.5+ds1"
// from "runc version 1.1.5+ds1\n..."), or "" when it is not runc's.
func ParseVersion(out string) string {
	first, _, _ := strings.Cut(out, "\n")
	v, ok := strings.CutPrefix(first, "runc version ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(v)
}

// Supported tells whether runc's state directory is read for this runc
// version: 1.1.x, whose state.json the package knows.
func Supported(version string) bool {
	return strings.HasPrefix(version, "1.1.")
}
