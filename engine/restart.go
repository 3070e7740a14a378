package engine

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RestartPolicy says whether the monitor starts a container again after it
// exits, with the names docker uses.
type RestartPolicy struct {
	// Name is "no", "on-failure", "always" or "unless-stopped".
	Name string `json:"name"`
	// MaxRetries bounds on-failure restarts; 0 means no bound.
	MaxRetries int `json:"maxRetries,omitempty"`
}

// ParseRestartPolicy reads no, on-failure[:N], always and unless-stopped.
func ParseRestartPolicy(s string) (RestartPolicy, error) {
	name, count, hasCount := strings.Cut(s, ":")
	p := RestartPolicy{Name: name}
	switch name {
	case "", "no":
		p.Name = "no"
	case "always", "unless-stopped":
	case "on-failure":
		if hasCount {
			n, err := strconv.Atoi(count)
			if err != nil || n < 0 {
				return RestartPolicy{}, fmt.Errorf("--restart %q: the retry count must be a number >= 0", s)
			}
			p.MaxRetries = n
		}
		return p, nil
	default:
		return RestartPolicy{}, fmt.Errorf("--restart %q: not one of no, on-failure[:N], always, unless-stopped", s)
	}
	if hasCount {
		return RestartPolicy{}, fmt.Errorf("--restart %q: only on-failure takes a retry count", s)
	}
	return p, nil
}

// String renders the policy as it is written on the command line.
func (p RestartPolicy) String() string {
	if p.Name == "on-failure" && p.MaxRetries > 0 {
		return fmt.Sprintf("on-failure:%d", p.MaxRetries)
	}
	if p.Name == "" {
		return "no"
	}
	return p.Name
}

// ShouldRestart decides, after an exit with exitCode, whether the monitor
// starts the container again. restarts is how many restarts happened so
// far; stopped tells that a user stopped or killed the container, which
// no policy overrides.
func (p RestartPolicy) ShouldRestart(exitCode, restarts int, stopped bool) bool {
	if stopped {
		return false
	}
	switch p.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return exitCode != 0 && (p.MaxRetries == 0 || restarts < p.MaxRetries)
	}
	return false
}

// RestartOnBoot tells whether `stockade boot` starts the container when the
// host comes up: always does, unless-stopped does unless a user stopped it,
// and on-failure does when the container was still running at shutdown.
func (p RestartPolicy) RestartOnBoot(wasRunning, stoppedByUser bool) bool {
	switch p.Name {
	case "always":
		return true
	case "unless-stopped":
		return !stoppedByUser
	case "on-failure":
		return wasRunning && !stoppedByUser
	}
	return false
}

// Backoff is the delay before restart number n (0-based): 100 ms doubling
// up to one minute. A container that ran for longer than ResetAfter
// starts again from the first delay.
func Backoff(n int) time.Duration {
	d := 100 * time.Millisecond
	for i := 0; i < n && d < time.Minute; i++ {
		d *= 2
	}
	if d > time.Minute {
		d = time.Minute
	}
	return d
}

// ResetAfter is how long a container must run for its restart backoff to
// start over.
const ResetAfter = 10 * time.Second
