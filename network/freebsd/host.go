package freebsd

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Host runs the system tools the driver needs: ifconfig(8), route(8),
// pfctl(8), sysctl(8) and ps(1). NewHost returns FreeBSD's, which execs
// them; tests use a recording fake.
type Host interface {
	// Run runs argv (argv[0] is the tool's name) with stdin as its
	// standard input and returns its standard output. A failure is a
	// *RunError carrying the tool's standard error.
	Run(ctx context.Context, stdin string, argv ...string) (string, error)
}

// RunError is a tool that failed.
type RunError struct {
	Args   []string
	Stderr string
	Err    error
}

func (e *RunError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		msg = e.Err.Error()
	}
	return fmt.Sprintf("%s: %s", strings.Join(e.Args, " "), msg)
}

func (e *RunError) Unwrap() error { return e.Err }

// gone reports whether err says that what a command removes is already
// gone: an interface that "does not exist", an anchor pfctl cannot find,
// an address that is not there ("Can't assign requested address",
// EADDRNOTAVAIL). Removal treats these as done, so that it can run again
// after a crash.
func gone(err error) bool {
	var re *RunError
	if !errors.As(err, &re) {
		return false
	}
	s := strings.ToLower(re.Stderr)
	for _, m := range []string{"does not exist", "no such", "not found", "can't assign requested address"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// run is Host.Run without standard input.
func run(ctx context.Context, h Host, argv ...string) (string, error) {
	return h.Run(ctx, "", argv...)
}
