package monitorio

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"
)

// The two monitors of a container pass each other what they hold across
// execve, in the same process: the full monitor (`stockade monitor`)
// execs the small one (stockade-monitor) with a Handover once the
// container has run idle for a while, and the small one execs the full
// one back with a Resume when the container has exited. The descriptors
// keep their numbers across execve (only their FD_CLOEXEC flag is
// cleared); the description travels in an environment variable.
const (
	// HandoverEnv holds the JSON Handover for stockade-monitor.
	HandoverEnv = "STOCKADE_HANDOVER"
	// ResumeEnv holds the JSON Resume for `stockade monitor`.
	ResumeEnv = "STOCKADE_RESUME"
	// Version is the descriptions' format; a monitor refuses another.
	Version = 1
)

// LogConfig is where the container's log is and how it rotates.
type LogConfig struct {
	Path     string `json:"path"`
	MaxSize  int64  `json:"maxSize"`
	MaxFiles int    `json:"maxFiles"`
}

// Handover is what the full monitor passes to the small one. A descriptor
// field is -1 when there is no such descriptor.
type Handover struct {
	Version int `json:"version"`
	// ID is the container's id; Pid its process, a child of the monitor.
	ID  string `json:"id"`
	Pid int    `json:"pid"`
	// HealthPid is the health checker's pid (a child), 0 when none runs.
	HealthPid int `json:"healthPid,omitempty"`
	// Lock is the monitor lock file; its flock stays held.
	Lock int `json:"lock"`
	// Listener is the attach socket's listener.
	Listener int `json:"listener"`
	// Stdout and Stderr are the output pipes' read ends (-1 for a stream
	// the container closed), Terminal the terminal master (then Stdout
	// and Stderr are -1), Stdin the input pipe's write end of an
	// interactive container whose input is still open.
	Stdout   int `json:"stdout"`
	Stderr   int `json:"stderr"`
	Terminal int `json:"terminal"`
	Stdin    int `json:"stdin"`
	// Log is the container's log.
	Log LogConfig `json:"log"`
	// Restarts and RunStarted are the restart loop's count of restarts
	// and the start of this run, carried back to it.
	Restarts   int       `json:"restarts"`
	RunStarted time.Time `json:"runStarted"`
	// Resume is the command line of the full monitor to exec back,
	// Resume[0] its path.
	Resume []string `json:"resume"`
	// Forwarders are the published ports' forwarders to serve.
	Forwarders []Forwarder `json:"forwarders,omitempty"`
}

// Forwarder is a published port's userland forwarder (package
// network/proxy): its listening socket, passed from one monitor to the
// other, and what it forwards to.
type Forwarder struct {
	FD int `json:"fd"`
	// Hook and Owner name it for the full monitor: the engine hook it
	// belongs to and that hook's name for it.
	Hook  string `json:"hook"`
	Owner string `json:"owner"`
	// Proto is "tcp" or "udp"; Target the address (ip:port) it forwards
	// to.
	Proto  string `json:"proto"`
	Target string `json:"target"`
}

// validate refuses a forwarder the monitors cannot serve.
func (f Forwarder) validate(what string) error {
	if f.FD < 3 {
		return fmt.Errorf("%s forwarder descriptor %d: want 3 or more", what, f.FD)
	}
	if f.Proto != "tcp" && f.Proto != "udp" {
		return fmt.Errorf("%s forwarder protocol %q: want tcp or udp", what, f.Proto)
	}
	if _, err := netip.ParseAddrPort(f.Target); err != nil {
		return fmt.Errorf("%s forwarder target %q: %w", what, f.Target, err)
	}
	if f.Hook == "" || f.Owner == "" {
		return fmt.Errorf("%s forwarder to %s without its hook and owner", what, f.Target)
	}
	return nil
}

func validateForwarders(what string, fs []Forwarder) error {
	for _, f := range fs {
		if err := f.validate(what); err != nil {
			return err
		}
	}
	return nil
}

// Client is an attach client passed to the full monitor.
type Client struct {
	FD int `json:"fd"`
	// Hello is the client's hello, nil when it had not come yet.
	Hello *AttachHello `json:"hello,omitempty"`
}

// Resume is what the small monitor passes back to the full one once the
// container's process has exited.
type Resume struct {
	Version    int       `json:"version"`
	ID         string    `json:"id"`
	Lock       int       `json:"lock"`
	Listener   int       `json:"listener"`
	HealthPid  int       `json:"healthPid,omitempty"`
	Restarts   int       `json:"restarts"`
	RunStarted time.Time `json:"runStarted"`
	// ExitCode is the process's exit code, 128+signal for a signal.
	ExitCode int `json:"exitCode"`
	// Clients are the attach clients that connected to the small monitor.
	Clients []Client `json:"clients,omitempty"`
	// Forwarders are the published ports' forwarders, passed back.
	Forwarders []Forwarder `json:"forwarders,omitempty"`
}

// Encode renders h for HandoverEnv.
func (h Handover) Encode() (string, error) {
	h.Version = Version
	if err := h.Validate(); err != nil {
		return "", err
	}
	b, err := json.Marshal(h)
	return string(b), err
}

// Validate refuses a description the small monitor cannot work from.
func (h Handover) Validate() error {
	switch {
	case h.Version != Version:
		return fmt.Errorf("handover version %d, want %d", h.Version, Version)
	case h.ID == "":
		return fmt.Errorf("handover without a container id")
	case h.Pid <= 0:
		return fmt.Errorf("handover pid %d: not a process", h.Pid)
	case h.HealthPid < 0:
		return fmt.Errorf("handover health pid %d: not a process", h.HealthPid)
	case h.Log.Path == "":
		return fmt.Errorf("handover without a log path")
	case h.Log.MaxSize <= 0 || h.Log.MaxFiles < 1:
		return fmt.Errorf("handover log limits %d bytes, %d files: must be positive", h.Log.MaxSize, h.Log.MaxFiles)
	case len(h.Resume) == 0 || h.Resume[0] == "":
		return fmt.Errorf("handover without the command to resume")
	case h.Terminal >= 0 && (h.Stdout >= 0 || h.Stderr >= 0):
		return fmt.Errorf("handover with a terminal and output pipes")
	}
	if err := checkFDs(map[string]int{"lock": h.Lock, "listener": h.Listener}, false); err != nil {
		return err
	}
	if err := validateForwarders("handover", h.Forwarders); err != nil {
		return err
	}
	return checkFDs(map[string]int{"stdout": h.Stdout, "stderr": h.Stderr, "terminal": h.Terminal, "stdin": h.Stdin}, true)
}

// checkFDs refuses descriptors below 3 (standard I/O, or a field the
// JSON left out) and, unless optional, -1.
func checkFDs(fds map[string]int, optional bool) error {
	for _, name := range []string{"lock", "listener", "stdout", "stderr", "terminal", "stdin"} {
		fd, ok := fds[name]
		if !ok || (optional && fd == -1) {
			continue
		}
		if fd < 3 {
			return fmt.Errorf("handover %s descriptor %d: want 3 or more", name, fd)
		}
	}
	return nil
}

// DecodeHandover reads a HandoverEnv value.
func DecodeHandover(s string) (Handover, error) {
	var h Handover
	if err := json.Unmarshal([]byte(s), &h); err != nil {
		return Handover{}, fmt.Errorf("handover description: %w", err)
	}
	if err := h.Validate(); err != nil {
		return Handover{}, err
	}
	return h, nil
}

// Encode renders r for ResumeEnv.
func (r Resume) Encode() (string, error) {
	r.Version = Version
	if err := r.Validate(); err != nil {
		return "", err
	}
	b, err := json.Marshal(r)
	return string(b), err
}

// Validate refuses a description the full monitor cannot resume from.
func (r Resume) Validate() error {
	switch {
	case r.Version != Version:
		return fmt.Errorf("resume version %d, want %d", r.Version, Version)
	case r.ID == "":
		return fmt.Errorf("resume without a container id")
	case r.HealthPid < 0:
		return fmt.Errorf("resume health pid %d: not a process", r.HealthPid)
	case r.Restarts < 0:
		return fmt.Errorf("resume restart count %d: negative", r.Restarts)
	}
	if err := checkFDs(map[string]int{"lock": r.Lock, "listener": r.Listener}, false); err != nil {
		return err
	}
	for _, c := range r.Clients {
		if c.FD < 3 {
			return fmt.Errorf("resume client descriptor %d: want 3 or more", c.FD)
		}
	}
	return validateForwarders("resume", r.Forwarders)
}

// DecodeResume reads a ResumeEnv value.
func DecodeResume(s string) (Resume, error) {
	var r Resume
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return Resume{}, fmt.Errorf("resume description: %w", err)
	}
	if err := r.Validate(); err != nil {
		return Resume{}, err
	}
	return r, nil
}
