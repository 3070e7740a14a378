// Package engine is stockade's container lifecycle: container records in
// the metadata store, bundles, the per-container monitor process, restart
// policies, logs, and the boot and shutdown sequences of the rc.d service.
// It drives containers through an ociruntime.Runtime (runc on Linux, the
// jail runtime on FreeBSD) and keeps their root file systems in a
// snapshot.Snapshotter.
package engine

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/stockade/stockade/snapshot"
)

// Status is a container's state as stockade reports it.
type Status string

// The statuses of a container.
const (
	StatusCreated    Status = "created"
	StatusRunning    Status = "running"
	StatusRestarting Status = "restarting"
	StatusExited     Status = "exited"
	StatusRemoving   Status = "removing"
)

// Container is the record of one container in the metadata store.
type Container struct {
	// ID is 64 hex digits; Name is unique among containers.
	ID   string `json:"id"`
	Name string `json:"name"`
	// commandChecked, never stored, is set on Create's result when it
	// checked the command against the mounted root (KeepRootMounted).
	commandChecked bool
	// rootMounts are the root snapshot's mounts, as the create that left
	// the root mounted (KeepRootMounted) had them: MonitorStart carries
	// them, so the monitor need not ask the snapshotter.
	rootMounts []snapshot.Mount
	// Image is the image's name as given, ImageID its config digest.
	Image   string `json:"image"`
	ImageID string `json:"imageID"`
	// Snapshotter and SnapshotKey locate the container's root.
	Snapshotter string `json:"snapshotter"`
	SnapshotKey string `json:"snapshotKey"`
	// Created is when the container was created.
	Created time.Time `json:"created"`
	// Command is the process's argv, for listings.
	Command []string `json:"command"`
	// BootOrder is the container's place in boot and shutdown.
	BootOrder
	// Restart is the restart policy; AutoRemove removes the container when
	// it exits for good (--rm).
	Restart    RestartPolicy `json:"restart"`
	AutoRemove bool          `json:"autoRemove,omitempty"`
	// Interactive keeps stdin open; Terminal allocates a pseudo-terminal.
	Interactive bool `json:"interactive,omitempty"`
	Terminal    bool `json:"terminal,omitempty"`
	// StopSignal is sent by stop before SIGKILL (default SIGTERM).
	StopSignal string `json:"stopSignal,omitempty"`
	// StopTimeout is stop's wait before SIGKILL, in seconds (--stop-timeout); nil is DefaultStopTimeout.
	StopTimeout *int `json:"stopTimeout,omitempty"`
	// Healthcheck is the container's health check (see health.go); nil or NONE runs none.
	Healthcheck *HealthConfig `json:"healthcheck,omitempty"`
	// Labels are free-form annotations of the container.
	Labels map[string]string `json:"labels,omitempty"`
	// Extensions hold each Hook's data, by hook name (see Hook).
	Extensions map[string]json.RawMessage `json:"extensions,omitempty"`

	// State is the last state the monitor recorded.
	State State `json:"state"`
}

// State is the mutable part of a container record.
type State struct {
	Status Status `json:"status"`
	// Pid is the container process's pid on the host while it runs.
	Pid int `json:"pid,omitempty"`
	// MonitorPid is the pid of the container's monitor process.
	MonitorPid int `json:"monitorPid,omitempty"`
	// ExitCode is the last exit status; -1 when it is not known (the host
	// went down, or the monitor was killed).
	ExitCode   int       `json:"exitCode"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	// RestartCount counts restarts by the policy since the last start by a user.
	RestartCount int `json:"restartCount"`
	// StoppedByUser is set by stop and kill, so no policy restarts it.
	StoppedByUser bool `json:"stoppedByUser,omitempty"`
	// RunningAtShutdown is set by Shutdown for containers it stopped, so
	// Boot brings them back.
	RunningAtShutdown bool `json:"runningAtShutdown,omitempty"`
	// Error is why the last start failed, if it did.
	Error string `json:"error,omitempty"`
	// Paused is set while the container's processes are frozen (pause.go).
	Paused bool `json:"paused,omitempty"`
	// Health is the health check's state while the container runs (health.go).
	Health *HealthState `json:"health,omitempty"`
}

// Running reports whether the recorded status has a live process.
func (s State) Running() bool {
	return s.Status == StatusRunning || s.Status == StatusRestarting
}

// Reconcile returns the state to report when the monitor's liveness is
// known: a container whose monitor is gone cannot be running or
// restarting, whatever the record last said, unless the runtime still
// sees its process (processAlive).
func (s State) Reconcile(monitorAlive, processAlive bool, now time.Time) State {
	if monitorAlive || !s.Running() && s.Status != StatusCreated {
		return s
	}
	if s.Status == StatusCreated && !processAlive {
		return s
	}
	if processAlive {
		s.Status = StatusRunning
		return s
	}
	s.Status = StatusExited
	s.Pid = 0
	s.MonitorPid = 0
	if s.ExitCode == 0 {
		s.ExitCode = -1
	}
	if s.FinishedAt.IsZero() {
		s.FinishedAt = now
	}
	return s
}

// Describe renders the state the way `ps` shows it.
func (s State) Describe(now time.Time) string {
	switch s.Status {
	case StatusRunning:
		return "Up " + humanDuration(now.Sub(s.StartedAt))
	case StatusExited:
		if s.FinishedAt.IsZero() {
			return fmt.Sprintf("Exited (%d)", s.ExitCode)
		}
		return fmt.Sprintf("Exited (%d) %s ago", s.ExitCode, humanDuration(now.Sub(s.FinishedAt)))
	case StatusRestarting:
		return fmt.Sprintf("Restarting (%d)", s.ExitCode)
	case StatusCreated:
		return "Created"
	}
	return string(s.Status)
}

// HumanDuration renders d the way docker's ps does, as the STATUS column
// says it ("Less than a second", "1 second", "About a minute",
// "5 minutes", "About an hour", "3 days"); listings add " ago" for times
// in the past, so that every column of a listing uses the same words.
func HumanDuration(d time.Duration) string { return humanDuration(d) }

// humanDuration renders d the way docker's ps does: singular and plural
// agree, and "About a minute"/"About an hour" stand for one.
func humanDuration(d time.Duration) string {
	secs := int(d.Seconds())
	switch {
	case secs < 1:
		return "Less than a second"
	case secs == 1:
		return "1 second"
	case secs < 60:
		return fmt.Sprintf("%d seconds", secs)
	}
	mins := int(d.Minutes())
	switch {
	case mins == 1:
		return "About a minute"
	case mins < 60:
		return fmt.Sprintf("%d minutes", mins)
	}
	hours := int(d.Hours() + 0.5)
	switch {
	case hours == 1:
		return "About an hour"
	case hours < 48:
		return fmt.Sprintf("%d hours", hours)
	case hours < 24*7*2:
		return fmt.Sprintf("%d days", hours/24)
	case hours < 24*30*2:
		return fmt.Sprintf("%d weeks", hours/24/7)
	case hours < 24*365*2:
		return fmt.Sprintf("%d months", hours/24/30)
	}
	return fmt.Sprintf("%d years", hours/24/365)
}

// ShortID returns the first 12 hex digits of the id.
func (c *Container) ShortID() string {
	if len(c.ID) > 12 {
		return c.ID[:12]
	}
	return c.ID
}

// NewID returns a random container id of 64 hex digits.
func NewID() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("container id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$`) }) // compiled on first use, not in every command's init

// ValidateName checks a user-given container name: docker's rule, letters,
// digits, '_', '.', '-', not starting with a punctuation mark, and not
// made of 1 to 64 hex digits only (it would read as an id prefix).
func ValidateName(name string) error {
	if !nameRE().MatchString(name) {
		return fmt.Errorf("container name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] allowed, at most 128 characters", name)
	}
	if isHex(name) && len(name) <= 64 {
		return fmt.Errorf("container name %q: a name of hex digits only would read as an id", name)
	}
	return nil
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return s != ""
}

// GenerateName makes a readable default name from the id, such as
// "quiet_stockade_3fa4".
func GenerateName(id string) string {
	adjectives := []string{"quiet", "brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry", "noble", "proud", "sharp", "swift", "witty"}
	nouns := []string{"beastie", "daemon", "jail", "stockade", "pool", "clone", "fence", "harbor", "keep", "moat", "tower", "warden", "bastion", "citadel", "ward", "gate"}
	b, _ := hex.DecodeString(id[:4])
	if len(b) < 2 {
		return "stockade_" + id
	}
	return fmt.Sprintf("%s_%s_%s", adjectives[int(b[0])%len(adjectives)], nouns[int(b[1])%len(nouns)], id[4:8])
}

// Errors that engine operations wrap.
var (
	ErrNoSuchContainer = errors.New("no such container")
	ErrAmbiguous       = errors.New("ambiguous id prefix")
	ErrNameInUse       = errors.New("name already in use")
	// ErrHasDependents: other containers declared --depends-on this one.
	ErrHasDependents = errors.New("other containers depend on it")
)

// Resolve finds the one container that ref names: an exact name, an exact
// id, or a unique id prefix.
func Resolve(all []*Container, ref string) (*Container, error) {
	ref = strings.TrimPrefix(ref, "/")
	for _, c := range all {
		if c.Name == ref || c.ID == ref {
			return c, nil
		}
	}
	var found *Container
	if isHex(ref) {
		for _, c := range all {
			if strings.HasPrefix(c.ID, ref) {
				if found != nil {
					return nil, fmt.Errorf("container %q: %w", ref, ErrAmbiguous)
				}
				found = c
			}
		}
	}
	if found == nil {
		return nil, fmt.Errorf("container %q: %w", ref, ErrNoSuchContainer)
	}
	return found, nil
}
