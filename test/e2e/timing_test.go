package e2e

import (
	"strconv"
	"strings"
	"testing"
)

// TestDebugTiming: `--debug-timing run --rm` prints every phase of the run,
// of the command and of the monitor, each with a duration, and a total;
// the container's output and exit code are its own. Without the flag,
// nothing of it is printed.
func TestDebugTiming(t *testing.T) {
	reg := startRegistry(t)
	ref := busyboxImage(t, reg)
	e := newEnv(t)
	e.must("pull", "-q", ref)

	r := e.run("--debug-timing", "run", "--rm", "--network", "none", ref, "sh", "-c", "echo out; exit 3")
	if r.code != 3 || r.stdout != "out\n" {
		t.Fatalf("run: want exit 3 and \"out\", got %s", r)
	}
	seen := map[string]bool{}
	total := -1.0
	for _, line := range strings.Split(r.stderr, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "phase" {
			continue
		}
		if f[1] == "total" {
			total, _ = strconv.ParseFloat(f[2], 64)
			continue
		}
		if len(f) < 5 {
			t.Fatalf("phase line %q: want START DURATION PROC NAME", line)
		}
		for _, n := range f[1:3] {
			if v, err := strconv.ParseFloat(n, 64); err != nil || v < 0 {
				t.Errorf("phase line %q: %q is not a time", line, n)
			}
		}
		seen[f[3]+" "+strings.Join(f[4:], " ")] = true
	}
	for _, want := range []string{
		"cli config", "cli image lookup", "cli metadata: reserve name", "cli snapshot prepare",
		"cli bundle write", "cli monitor spawn", "cli attach until the exit",
		// runc creates and starts in one call (no hook needs the gap),
		// in the foreground (a client is attached), and deletes the
		// container itself at the end.
		"monitor exec and init", "monitor runtime run (foreground)",
		"monitor container runs (wait)", "monitor runtime deleted itself", "monitor remove (--rm)",
	} {
		if !seen[want] {
			t.Errorf("no phase %q in:\n%s", want, r.stderr)
		}
	}
	if total <= 0 {
		t.Errorf("no total in:\n%s", r.stderr)
	}
	if ids := strings.TrimSpace(e.must("ps", "-a", "-q").stdout); ids != "" {
		t.Errorf("--rm left containers: %s", ids)
	}

	r = e.must("run", "--rm", "--network", "none", ref, "true")
	if strings.Contains(r.stderr, "phase") {
		t.Errorf("without --debug-timing, stderr has phases:\n%s", r.stderr)
	}
}
