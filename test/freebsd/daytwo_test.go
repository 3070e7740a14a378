//go:build freebsd

package freebsd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Issue 17's day-two operations on a FreeBSD host: volumes mounted with
// nullfs and kept across jails, cp through a jail's symlink that points at
// /etc (nothing on the host touched), stats from racct, pause as SIGSTOP
// of every process in the jail, and a health check run in the jail.

// dayTwoStk is the shared installation without pf: these containers run
// with no network.
func dayTwoStk(t *testing.T) *stk {
	t.Helper()
	s := buildStk(t)
	s.pfx = "d"
	t.Cleanup(func() {
		for _, v := range strings.Fields(s.run("volume", "ls", "-q").stdout) {
			if strings.HasPrefix(v, "d-") {
				s.run("volume", "rm", "-f", v)
			}
		}
	})
	return s
}

// waitFor polls cond every 100 ms until it holds or d has passed.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
	}
}

// TestVolumeAcrossJails: a named volume written by one jail is read by the
// next; removing it while a container uses it is refused, naming the user.
func TestVolumeAcrossJails(t *testing.T) {
	s := dayTwoStk(t)
	vol := s.name("data")
	s.must("run", "--rm", "--network", "none", "-v", vol+":/data", netSuite.ref, "/bin/sh", "-c", "echo kept > /data/f")
	if got := s.must("run", "--rm", "--network", "none", "-v", vol+":/data:ro", netSuite.ref, "/bin/cat", "/data/f").stdout; got != "kept\n" {
		t.Errorf("second jail read %q from the volume", got)
	}
	user := s.name("user")
	s.must("create", "--name", user, "--network", "none", "-v", vol+":/data", netSuite.ref, "/bin/sleep", "60")
	r := s.run("volume", "rm", vol)
	if r.err == nil || !strings.Contains(r.stderr, user) {
		t.Errorf("volume rm of a volume in use: %v", r)
	}
	s.must("rm", user)
	s.must("volume", "rm", vol)
}

// TestCpThroughJailSymlink: a symlink in the jail's root that points at
// /etc resolves inside the root: cp reads and writes the jail's /etc, and
// the host's /etc/passwd keeps its bytes and time.
func TestCpThroughJailSymlink(t *testing.T) {
	s := dayTwoStk(t)
	name := s.name("cp")
	s.must("run", "-d", "--name", name, "--network", "none", netSuite.ref, "/bin/sh", "-c", "ln -s /etc /evil && sleep 60")
	waitFor(t, 10*time.Second, "the symlink", func() bool { return s.run("exec", name, "/bin/test", "-L", "/evil").err == nil })
	before, err := os.Stat("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	hostBytes, _ := os.ReadFile("/etc/passwd")
	src := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(src, []byte("jail-only\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.must("cp", src, name+":/evil/passwd")
	if got := s.must("exec", name, "/bin/cat", "/etc/passwd").stdout; got != "jail-only\n" {
		t.Errorf("the jail's /etc/passwd: %q", got)
	}
	after, _ := os.Stat("/etc/passwd")
	now, _ := os.ReadFile("/etc/passwd")
	if string(now) != string(hostBytes) || !after.ModTime().Equal(before.ModTime()) {
		t.Fatal("cp through the jail's symlink changed the host's /etc/passwd")
	}
	out := filepath.Join(t.TempDir(), "back")
	s.must("cp", name+":/evil/passwd", out)
	if b, _ := os.ReadFile(out); string(b) != "jail-only\n" {
		t.Errorf("copied back %q", b)
	}
}

// TestStatsFromRacct: with racct on, stats reports memory and processes of
// the jail; with it off, stats fails naming the loader.conf line.
func TestStatsFromRacct(t *testing.T) {
	s := dayTwoStk(t)
	name := s.name("stats")
	s.must("run", "-d", "--name", name, "--network", "none", netSuite.ref, "/bin/sleep", "60")
	r := s.run("stats", "--no-stream", "--format", "json", name)
	if strings.TrimSpace(host(t, "sysctl", "-n", "kern.racct.enable")) != "1" {
		if r.err == nil || !strings.Contains(r.stderr, "kern.racct.enable=1") {
			t.Errorf("stats with racct off: %v", r)
		}
		return
	}
	var rows []struct {
		Name        string `json:"name"`
		MemoryUsage uint64 `json:"memoryUsage"`
		PIDs        uint64 `json:"pids"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("stats json: %v: %v", err, r)
	}
	if rows[0].MemoryUsage == 0 || rows[0].PIDs < 1 {
		t.Errorf("stats of a sleeping jail: %+v", rows[0])
	}
}

// TestPauseJail: pause stops every process in the jail (a counter stops
// advancing), unpause lets them go on.
func TestPauseJail(t *testing.T) {
	s := dayTwoStk(t)
	name := s.name("pause")
	dir := t.TempDir()
	s.must("run", "-d", "--name", name, "--network", "none", "-v", dir+":/out", netSuite.ref,
		"/bin/sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /out/n; sleep 0.1; done")
	count := func() int {
		b, _ := os.ReadFile(filepath.Join(dir, "n"))
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	waitFor(t, 10*time.Second, "the counter", func() bool { return count() > 2 })
	s.must("pause", name)
	n1 := count()
	time.Sleep(time.Second)
	if n2 := count(); n2 != n1 {
		t.Fatalf("the counter went from %d to %d while paused", n1, n2)
	}
	s.must("unpause", name)
	waitFor(t, 10*time.Second, "the counter to go on", func() bool { return count() > n1+2 })
}

// TestHealthInJail: a health check runs in the jail; removing the file it
// tests makes the container unhealthy.
func TestHealthInJail(t *testing.T) {
	s := dayTwoStk(t)
	name := s.name("health")
	s.must("run", "-d", "--name", name, "--network", "none", "--health-cmd", "test -e /tmp/ok",
		"--health-interval", "1s", "--health-retries", "1", netSuite.ref, "/bin/sh", "-c", "touch /tmp/ok; sleep 60")
	status := func() string {
		return strings.TrimSpace(s.run("inspect", "--format", "{{.State.Health.Status}}", name).stdout)
	}
	waitFor(t, 20*time.Second, "healthy", func() bool { return status() == "healthy" })
	s.must("exec", name, "/bin/rm", "/tmp/ok")
	waitFor(t, 20*time.Second, "unhealthy", func() bool { return status() == "unhealthy" })
}
