package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bbEnv is an env with the busybox image pulled; its containers run with
// --network none (loopback only), so no bridge is made.
func bbEnv(t *testing.T) (*env, string) {
	reg := startRegistry(t)
	ref := busyboxImage(t, reg)
	e := newEnv(t)
	e.must("pull", "-q", ref)
	t.Cleanup(func() {
		for _, id := range strings.Fields(e.run("ps", "-a", "-q").stdout) {
			e.run("rm", "-f", id)
		}
	})
	return e, ref
}

// healthInspect is the health part of a container's inspect record.
type healthInspect struct {
	Status        string `json:"status"`
	FailingStreak int    `json:"failingStreak"`
	Log           []struct {
		Start    time.Time `json:"start"`
		End      time.Time `json:"end"`
		ExitCode int       `json:"exitCode"`
		Output   string    `json:"output"`
	} `json:"log"`
}

func (e *env) health(name string) healthInspect {
	e.t.Helper()
	r := e.must("inspect", "--format", "{{json .State.Health}}", name)
	var h healthInspect
	if err := json.Unmarshal([]byte(r.stdout), &h); err != nil {
		e.t.Fatalf("inspect health: %v: %q", err, r.stdout)
	}
	return h
}

// TestHealthCheck: a check on a file the test creates and removes with
// exec goes unhealthy, healthy, and back; ps and inspect show it, and
// `healthcheck run` runs it once with its verdict as exit code.
func TestHealthCheck(t *testing.T) {
	e, ref := bbEnv(t)
	e.must("run", "-d", "--name", "hc", "--network", "none",
		"--health-cmd", "echo probing; test -f /tmp/ok", "--health-interval", "200ms", "--health-retries", "2", "--health-timeout", "5s",
		ref, "sleep", "1h")
	if out := e.must("ps", "--format", "{{.Status}}").stdout; !strings.Contains(out, "(health: starting)") && !strings.Contains(out, "(unhealthy)") {
		t.Errorf("ps status right after start: %q", out)
	}
	eventually(t, 20*time.Second, "unhealthy", func() bool { return e.health("hc").Status == "unhealthy" })
	h := e.health("hc")
	if h.FailingStreak < 2 || len(h.Log) == 0 {
		t.Fatalf("unhealthy: %+v", h)
	}
	last := h.Log[len(h.Log)-1]
	if last.ExitCode != 1 || last.Output != "probing\n" || last.End.Before(last.Start) {
		t.Errorf("last result %+v", last)
	}
	if out := e.must("ps", "--format", "{{.Names}} {{.Status}}").stdout; !strings.HasPrefix(out, "hc Up") || !strings.Contains(out, "(unhealthy)") {
		t.Errorf("ps: %q", out)
	}
	if out := e.must("ps", "--filter", "health=unhealthy", "-q").stdout; strings.TrimSpace(out) == "" {
		t.Error("ps --filter health=unhealthy lists nothing")
	}

	e.must("exec", "hc", "sh", "-c", ": > /tmp/ok")
	eventually(t, 20*time.Second, "healthy", func() bool { return e.health("hc").Status == "healthy" })
	if h := e.health("hc"); h.FailingStreak != 0 || len(h.Log) > 5 || h.Log[len(h.Log)-1].ExitCode != 0 {
		t.Errorf("healthy: %+v", h)
	}
	// How long one check takes (a runc exec), for the record.
	for _, r := range e.health("hc").Log {
		t.Logf("check took %s (exit %d)", r.End.Sub(r.Start).Round(time.Millisecond), r.ExitCode)
	}
	if out := e.must("ps").stdout; !strings.Contains(out, "(healthy)") {
		t.Errorf("ps table: %q", out)
	}
	if r := e.run("healthcheck", "run", "hc"); r.code != 0 || r.stdout != "probing\nhealthy\n" {
		t.Errorf("healthcheck run, healthy: %s", r)
	}

	e.must("exec", "hc", "busybox", "rm", "/tmp/ok")
	if r := e.run("healthcheck", "run", "hc"); r.code != 1 || !strings.HasPrefix(r.stdout, "probing\n") {
		t.Errorf("healthcheck run, failing: %s", r)
	}
	eventually(t, 20*time.Second, "unhealthy again", func() bool { return e.health("hc").Status == "unhealthy" })

	// The events log has the transitions.
	r := e.must("events", "--since", "1h", "--until", "0s", "--filter", "container=hc", "--format", "{{.Action}}")
	if !strings.Contains(r.stdout, "health_status: unhealthy\n") || !strings.Contains(r.stdout, "health_status: healthy\n") {
		t.Errorf("events: %q", r.stdout)
	}
	// A stopped container shows no health in ps; start brings the
	// checker back.
	e.must("stop", "-t", "1", "hc")
	if out := e.must("ps", "-a", "--format", "{{.Status}}").stdout; strings.Contains(out, "health") {
		t.Errorf("ps of a stopped container: %q", out)
	}
	if r := e.run("healthcheck", "run", "hc"); r.code != 125 || !strings.Contains(r.stderr, "not running") {
		t.Errorf("healthcheck run of a stopped container: %s", r)
	}
}

// TestHealthFlagErrors: bad health flags are one-line errors and make
// nothing.
func TestHealthFlagErrors(t *testing.T) {
	e, ref := bbEnv(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--health-interval", "soon"}, `--health-interval "soon"`},
		{[]string{"--health-interval", "0s"}, `--health-interval "0s"`},
		{[]string{"--health-retries", "0"}, "--health-retries 0"},
		{[]string{"--no-healthcheck", "--health-cmd", "true"}, "--no-healthcheck and --health-cmd"},
	} {
		args := append(append([]string{"create", "--network", "none"}, tt.args...), ref, "true")
		r := e.run(args...)
		if r.code != 125 || !strings.Contains(r.stderr, tt.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%q: %s", tt.args, r)
		}
	}
	if out := e.must("ps", "-a", "-q").stdout; out != "" {
		t.Errorf("bad flags left containers: %q", out)
	}
	// A container without a check.
	e.must("run", "-d", "--name", "plain", "--network", "none", ref, "sleep", "1h")
	if r := e.run("healthcheck", "run", "plain"); r.code != 125 || !strings.Contains(r.stderr, "no health check") {
		t.Errorf("healthcheck run without a check: %s", r)
	}
	if out := e.must("inspect", "--format", "{{.State.Health}}", "plain").stdout; out != "<nil>\n" {
		t.Errorf("health of a container without a check: %q", out)
	}
}

// TestImageHealthcheck: an image's HEALTHCHECK and STOPSIGNAL (made by
// stockade build) are honoured; --health-* override single fields and
// --no-healthcheck turns the check off.
func TestImageHealthcheck(t *testing.T) {
	buildNeedRoot(t)
	reg := startRegistry(t)
	base := busyboxImage(t, reg)
	dir := t.TempDir()
	df := "FROM " + base + "\nHEALTHCHECK --interval=200ms --retries=1 CMD test -f /tmp/ok\nSTOPSIGNAL SIGUSR1\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e.must("build", "-q", "-t", "hc:1", dir)
	e.must("run", "-d", "--name", "img", "--network", "none", "hc:1", "sleep", "1h")
	if r := e.must("inspect", "-f", "{{json .Healthcheck.Test}} {{.Healthcheck.Interval}} {{.Healthcheck.Retries}} {{.StopSignal}}", "img"); r.stdout != `["CMD-SHELL","test -f /tmp/ok"] 200ms 1 SIGUSR1`+"\n" {
		t.Errorf("recorded check: %q", r.stdout)
	}
	eventually(t, 20*time.Second, "unhealthy", func() bool { return e.health("img").Status == "unhealthy" })
	e.must("exec", "img", "sh", "-c", ": > /tmp/ok")
	eventually(t, 20*time.Second, "healthy", func() bool { return e.health("img").Status == "healthy" })

	e.must("create", "--name", "slow", "--network", "none", "--health-interval", "1h", "hc:1", "sleep", "1h")
	if r := e.must("inspect", "-f", "{{index .Healthcheck.Test 1}} {{.Healthcheck.Interval}}", "slow"); r.stdout != "test -f /tmp/ok 1h0m0s\n" {
		t.Errorf("--health-interval over the image's: %q", r.stdout)
	}
	e.must("run", "-d", "--name", "off", "--network", "none", "--no-healthcheck", "hc:1", "sleep", "1h")
	if r := e.must("ps", "--filter", "name=off", "--format", "{{.Status}}"); strings.Contains(r.stdout, "health") {
		t.Errorf("--no-healthcheck: %q", r.stdout)
	}
	if r := e.run("healthcheck", "run", "off"); r.code != 125 || !strings.Contains(r.stderr, "no health check") {
		t.Errorf("healthcheck run with --no-healthcheck: %s", r)
	}
}

// TestHealthTimeout: a check that outlives --health-timeout fails with
// docker's message, soon, and its process is killed.
func TestHealthTimeout(t *testing.T) {
	e, ref := bbEnv(t)
	e.must("run", "-d", "--name", "hang", "--network", "none",
		"--health-cmd", "exec sleep 30", "--health-timeout", "300ms", "--health-interval", "200ms", "--health-retries", "1",
		ref, "sleep", "3600")
	eventually(t, 20*time.Second, "unhealthy", func() bool { return e.health("hang").Status == "unhealthy" })
	h := e.health("hang")
	last := h.Log[len(h.Log)-1]
	if last.ExitCode != -1 || last.Output != "Health check exceeded timeout (300ms)" {
		t.Errorf("result %+v", last)
	}
	if d := last.End.Sub(last.Start); d < 300*time.Millisecond || d > 6*time.Second {
		t.Errorf("a check with a 300ms timeout took %s", d)
	}
	// Checks run one at a time and each is killed at its timeout: at
	// most one is alive, however many ran.
	time.Sleep(time.Second)
	out := e.must("exec", "hang", "sh", "-c", "cat /proc/[0-9]*/cmdline 2>/dev/null | busybox tr '\\0' ' '; echo").stdout
	if strings.Count(out, "sleep 30") > 1 { // at most the one being checked right now
		t.Errorf("checks left running: %q", out)
	}
}

// TestHealthCheckerSleepsSmall: with an interval of 2 s, at least
// `[monitor] idle_after` (1 s here), the health checker spends the time
// between checks as the small monitor (stockade-monitor
// --sleep-then-exec), in the same process, and execs the checker back for
// each check: the statuses still follow the check, the checker keeps its
// pid, and it ends with the container. With idle_after above the
// interval it stays the checker.
func TestHealthCheckerSleepsSmall(t *testing.T) {
	e, ref := bbEnv(t)
	e.writeConfig("[monitor]\nidle_after = \"3s\"\n")
	e.must("run", "-d", "--name", "resident", "--network", "none",
		"--health-cmd", "true", "--health-interval", "2s", ref, "sleep", "1h")
	resident := e.psOne("resident").State.MonitorPid
	time.Sleep(2500 * time.Millisecond) // the first check is done
	seen := false
	for _, k := range childrenOf(resident) {
		if c := cmdlineOf(k); strings.Contains(c, "healthcheck monitor") || strings.Contains(c, "--sleep-then-exec") {
			seen = true
			if exe := exeOf(k); exe != fullMonitor {
				t.Errorf("with an interval below idle_after the checker runs %q, want %s", exe, fullMonitor)
			}
		}
	}
	if !seen {
		t.Errorf("no health checker among the monitor's children %v", childrenOf(resident))
	}
	e.must("rm", "-f", "resident")

	e.writeConfig("[monitor]\nidle_after = \"1s\"\n")
	e.must("run", "-d", "--name", "slow", "--network", "none",
		"--health-cmd", "test -f /tmp/ok", "--health-interval", "2s", "--health-retries", "1", "--health-timeout", "5s",
		ref, "sh", "-c", ": > /tmp/ok; sleep 1h")
	mon := e.psOne("slow").State.MonitorPid
	checker := 0
	eventually(t, 10*time.Second, "the health checker", func() bool {
		for _, k := range childrenOf(mon) {
			if c := cmdlineOf(k); strings.Contains(c, "healthcheck monitor") {
				checker = k
				return true
			}
		}
		return false
	})
	eventually(t, 20*time.Second, "healthy", func() bool { return e.health("slow").Status == "healthy" })
	eventually(t, 10*time.Second, "the checker asleep as the small monitor", func() bool {
		return exeOf(checker) == "stockade-monitor" && strings.Contains(cmdlineOf(checker), "--sleep-then-exec 2s -- ")
	})
	e.must("exec", "slow", "busybox", "rm", "/tmp/ok")
	eventually(t, 20*time.Second, "unhealthy", func() bool { return e.health("slow").Status == "unhealthy" })
	if h := e.health("slow"); len(h.Log) < 2 {
		t.Errorf("health log %+v: want the checks before and after", h)
	}
	found := false
	for _, k := range childrenOf(mon) {
		found = found || k == checker
	}
	if !found {
		t.Errorf("the checker %d is no longer the monitor's child: the loop did not come back in the same process", checker)
	}
	e.must("rm", "-f", "slow")
	eventually(t, 10*time.Second, "the checker to end", func() bool { return exeOf(checker) == "" })
}
