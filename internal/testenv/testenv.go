// Package testenv lets tests say what they need from the machine: root, or
// a command such as runc. Where it is missing, the test is skipped on a
// developer's machine but fails when the environment variable CI is set:
// CI runs as root with every tool test/install-deps.sh installs, so there a
// missing one is a broken setup, not a reason to skip.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run in CI: the environment variable CI is
// set to anything but the empty string.
func InCI() bool { return os.Getenv("CI") != "" }

// Unavailable ends t for lack of something the machine should have: it
// skips with the reason, or fails in CI.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("%s (CI is set, so this is a failure, not a skip)", msg)
	}
	t.Skip(msg)
}

// RequireRoot ends t (see Unavailable) unless it runs as root; why says
// what needs root, such as "mounting".
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "%s needs root", why)
	}
}

// RequireCommand returns the path of the command name, and ends t (see
// Unavailable) when it is not installed.
func RequireCommand(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Unavailable(t, "%s is not installed (test/install-deps.sh installs it): %v", name, err)
	}
	return p
}
