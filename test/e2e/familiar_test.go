package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTemplatesAndFilters: inspect, image inspect and ps --format
// templates, ps --filter with docker's semantics, labels.
func TestTemplatesAndFilters(t *testing.T) {
	e, ref := bbEnv(t)
	labels := filepath.Join(t.TempDir(), "labels")
	os.WriteFile(labels, []byte("# from a file\nowner=ops\ntier=back\n"), 0o600)
	e.must("run", "-d", "--name", "front", "--network", "none", "-l", "tier=front", "-l", "x", ref, "sleep", "1h")
	e.must("run", "--name", "done", "--network", "none", "--label-file", labels, ref, "true")

	r := e.must("inspect", "--format", "{{.Name}} {{.State.Status}} {{json .Labels}} {{upper .Name}}", "front", "done")
	if r.stdout != "front running {\"tier\":\"front\",\"x\":\"\"} FRONT\ndone exited {\"owner\":\"ops\",\"tier\":\"back\"} DONE\n" {
		t.Errorf("inspect --format: %q", r.stdout)
	}
	if r := e.must("image", "inspect", "-f", "{{.Name}}", ref); r.stdout != ref+"\n" {
		t.Errorf("image inspect -f: %q", r.stdout)
	}
	if r := e.must("inspect", "-f", "{{.Name}}", ref); r.stdout != ref+"\n" {
		t.Errorf("inspect -f of an image: %q", r.stdout)
	}
	if r := e.must("images", "--format", "{{.Repository}} {{.Tag}} {{len .ID}}"); r.stdout != strings.TrimSuffix(ref, ":1")+" 1 12\n" {
		t.Errorf("images --format: %q", r.stdout)
	}
	r = e.must("ps", "-a", "--format", "table {{.Names}}\t{{.State}}\t{{.Label \"tier\"}}")
	got := strings.Fields(r.stdout)
	if strings.Join(got, " ") != "done exited back front running front" && strings.Join(got, " ") != "front running front done exited back" {
		t.Errorf("ps --format table: %q", r.stdout)
	}
	r = e.must("ps", "-a", "--format", "table {{.Names}}\t{{.Status}}")
	if first := strings.SplitN(r.stdout, "\n", 2)[0]; strings.Join(strings.Fields(first), " ") != "NAMES STATUS" {
		t.Errorf("ps table header: %q", first)
	}

	names := func(args ...string) string {
		t.Helper()
		out := e.must(append([]string{"ps", "--format", "{{.Names}}"}, args...)...).stdout
		f := strings.Fields(out)
		if len(f) > 1 && f[0] > f[1] {
			f[0], f[1] = f[1], f[0]
		}
		return strings.Join(f, " ")
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "front"},
		{[]string{"-a"}, "done front"},
		{[]string{"--filter", "status=exited"}, "done"},
		{[]string{"-a", "--filter", "label=tier=front"}, "front"},
		{[]string{"-a", "--filter", "label=tier=front", "--filter", "label=owner"}, "done front"},
		{[]string{"-a", "--filter", "label=tier", "--filter", "status=running"}, "front"},
		{[]string{"-a", "--filter", "name=on"}, "done front"},
		{[]string{"-a", "--filter", "name=fr"}, "front"},
		{[]string{"-a", "--filter", "ancestor=" + ref}, "done front"},
		{[]string{"-a", "--filter", "ancestor=nope"}, ""},
	} {
		if got := names(tt.args...); got != tt.want {
			t.Errorf("ps %q: %q, want %q", tt.args, got, tt.want)
		}
	}
	id := strings.TrimSpace(e.must("inspect", "-f", "{{.ID}}", "done").stdout)
	if got := names("-a", "--filter", "id="+id[:6]); got != "done" {
		t.Errorf("ps --filter id=: %q", got)
	}

	// Bad templates and filters: one line naming them.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"inspect", "--format", "{{.Name", "front"}, `--format "{{.Name"`},
		{[]string{"inspect", "--format", "{{.Nope}}", "front"}, "--format"},
		{[]string{"ps", "--format", "{{nosuch .Names}}"}, `--format "{{nosuch .Names}}"`},
		{[]string{"ps", "--filter", "colour=red"}, `--filter "colour=red"`},
		{[]string{"ps", "--filter", "status=asleep"}, "status=asleep"},
		{[]string{"run", "--network", "none", "--label", "=x", ref, "true"}, `--label "=x"`},
	} {
		r := e.run(tt.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tt.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%q: %s", tt.args, r)
		}
	}
}

// TestEnvFile: docker's env-file format, -e winning over it, KEY alone
// taken from the caller's environment; a missing file makes nothing.
func TestEnvFile(t *testing.T) {
	e, ref := bbEnv(t)
	t.Setenv("FROM_CALLER", "here")
	f := filepath.Join(t.TempDir(), "env")
	os.WriteFile(f, []byte("# comment\nA=1\n\nB=from file\nFROM_CALLER\nC=x=y\n"), 0o600)
	r := e.must("run", "--rm", "--network", "none", "--env-file", f, "-e", "B=flag", ref, "sh", "-c", `echo "$A|$B|$FROM_CALLER|$C"`)
	if r.stdout != "1|flag|here|x=y\n" {
		t.Errorf("env: %q", r.stdout)
	}
	missing := filepath.Join(t.TempDir(), "nope")
	r = e.run("run", "--network", "none", "--env-file", missing, ref, "true")
	if r.code != 125 || !strings.Contains(r.stderr, "--env-file "+missing) {
		t.Errorf("missing env file: %s", r)
	}
	os.WriteFile(f, []byte("GOOD=1\nBAD KEY=1\n"), 0o600)
	if r := e.run("run", "--network", "none", "--env-file", f, ref, "true"); r.code != 125 || !strings.Contains(r.stderr, "line 2") {
		t.Errorf("bad env file: %s", r)
	}
	if out := e.must("ps", "-a", "-q").stdout; out != "" {
		t.Errorf("bad env files left containers: %q", out)
	}
}

// zombies lists the zombie processes a container sees, from /proc.
func (e *env) zombies(name string) []string {
	e.t.Helper()
	out := e.must("exec", name, "sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null").stdout
	var z []string
	for _, line := range strings.Split(out, "\n") {
		if i := strings.LastIndex(line, ")"); i > 0 && strings.HasPrefix(line[i:], ") Z") {
			z = append(z, line)
		}
	}
	return z
}

// TestInit: without --init an orphan of a PID 1 that never waits stays a
// zombie; with --init it is reaped. The init passes on the exit code and
// the stop signal.
func TestInit(t *testing.T) {
	e, ref := bbEnv(t)
	orphan := `(sleep 0.2 &); exec sleep 60`
	e.must("run", "-d", "--name", "noinit", "--network", "none", ref, "sh", "-c", orphan)
	e.must("run", "-d", "--name", "withinit", "--network", "none", "--init", ref, "sh", "-c", orphan)
	eventually(t, 10*time.Second, "the orphan to exit and stay a zombie without --init", func() bool {
		return len(e.zombies("noinit")) > 0
	})
	time.Sleep(500 * time.Millisecond)
	if z := e.zombies("withinit"); len(z) > 0 {
		t.Errorf("zombies with --init: %q", z)
	}
	if out := e.must("exec", "withinit", "cat", "/proc/1/cmdline").stdout; !strings.HasPrefix(out, "/sbin/stockade-init\x00--\x00sh\x00") {
		t.Errorf("PID 1 with --init: %q", out)
	}
	// The exit code of the command.
	if r := e.run("run", "--rm", "--network", "none", "--init", ref, "sh", "-c", "echo out; exit 7"); r.code != 7 || r.stdout != "out\n" {
		t.Errorf("exit code through init: %s", r)
	}
	// stop's SIGTERM reaches the command through the init.
	e.must("run", "-d", "--name", "trapper", "--network", "none", "--init", ref, "sh", "-c", `trap "exit 3" TERM; while :; do sleep 0.1; done`)
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	e.must("stop", "-t", "20", "trapper")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stop took %s: the signal did not reach the command", d)
	}
	if code := e.psOne("trapper").State.ExitCode; code != 3 {
		t.Errorf("exit code after stop %d, want 3 (the trap's)", code)
	}
	// A command that does not exist: 127, as docker's init says.
	if r := e.run("run", "--rm", "--network", "none", "--init", ref, "/nonexistent"); r.code != 127 {
		t.Errorf("missing command under init: %s", r)
	}
}

// TestStopSignalAndTimeout: --stop-signal is what the process gets from
// stop; --stop-timeout is how long stop waits before SIGKILL.
func TestStopSignalAndTimeout(t *testing.T) {
	e, ref := bbEnv(t)
	out := t.TempDir()
	e.must("run", "-d", "--name", "usr1", "--network", "none", "--stop-signal", "USR1", "-v", out+":/out", ref,
		"sh", "-c", `trap "echo USR1 > /out/sig; exit 0" USR1; trap "echo TERM > /out/sig; exit 9" TERM; while :; do sleep 0.1; done`)
	time.Sleep(300 * time.Millisecond)
	e.must("stop", "usr1")
	if data, _ := os.ReadFile(filepath.Join(out, "sig")); string(data) != "USR1\n" {
		t.Errorf("the process got %q, want USR1", data)
	}
	if code := e.psOne("usr1").State.ExitCode; code != 0 {
		t.Errorf("exit code %d, want 0 (the USR1 trap's)", code)
	}
	if r := e.must("inspect", "-f", "{{.StopSignal}}", "usr1"); r.stdout != "USR1\n" {
		t.Errorf("recorded stop signal %q", r.stdout)
	}

	e.must("run", "-d", "--name", "stubborn", "--network", "none", "--stop-timeout", "1", ref, "sh", "-c", `trap "" TERM; while :; do sleep 0.1; done`)
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	e.must("stop", "stubborn")
	if d := time.Since(start); d < time.Second || d > 7*time.Second {
		t.Errorf("stop with --stop-timeout 1 took %s", d)
	}
	if code := e.psOne("stubborn").State.ExitCode; code != 137 {
		t.Errorf("exit code %d, want 137", code)
	}
	for _, tt := range []struct{ flag, value, want string }{
		{"--stop-signal", "SIGNOPE", `--stop-signal "SIGNOPE"`},
		{"--stop-timeout", "-3", "--stop-timeout -3"},
	} {
		if r := e.run("create", "--network", "none", tt.flag, tt.value, ref, "true"); r.code != 125 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s %s: %s", tt.flag, tt.value, r)
		}
	}
}

// TestRename: the new name finds the container, the old does not; a name
// in use or invalid is refused.
func TestRename(t *testing.T) {
	e, ref := bbEnv(t)
	e.must("create", "--name", "old", "--network", "none", ref, "true")
	e.must("create", "--name", "other", "--network", "none", ref, "true")
	e.must("rename", "old", "new")
	if r := e.must("inspect", "-f", "{{.Name}}", "new"); r.stdout != "new\n" {
		t.Errorf("inspect new: %q", r.stdout)
	}
	if r := e.run("inspect", "old"); r.code != 125 {
		t.Errorf("inspect old after rename: %s", r)
	}
	if r := e.run("rename", "new", "other"); r.code != 125 || !strings.Contains(r.stderr, "name already in use") {
		t.Errorf("rename to a used name: %s", r)
	}
	if r := e.run("rename", "new", "-bad"); r.code != 125 || !strings.Contains(r.stderr, `"-bad"`) {
		t.Errorf("rename to a bad name: %s", r)
	}
	if r := e.run("rename", "nope", "x1"); r.code != 125 || !strings.Contains(r.stderr, "no such container") {
		t.Errorf("rename of a missing container: %s", r)
	}
	e.must("start", "new")
}

// TestPause: a counter loop stops advancing while paused; ps shows the
// status paused; unpause lets it go on.
func TestPause(t *testing.T) {
	e, ref := bbEnv(t)
	out := t.TempDir()
	e.must("run", "-d", "--name", "counter", "--network", "none", "-v", out+":/out", ref,
		"sh", "-c", `i=0; while :; do i=$((i+1)); echo $i > /out/n.tmp; mv /out/n.tmp /out/n 2>/dev/null || cat /out/n.tmp > /out/n; sleep 0.05; done`)
	count := func() int {
		data, _ := os.ReadFile(filepath.Join(out, "n"))
		n, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		return n
	}
	eventually(t, 10*time.Second, "the counter to count", func() bool { return count() > 2 })
	e.must("pause", "counter")
	if got := e.must("ps", "--filter", "status=paused", "--format", "{{.Names}} {{.State}} {{.Status}}").stdout; !strings.HasPrefix(got, "counter paused Up") || !strings.Contains(got, "(Paused)") {
		t.Errorf("ps of a paused container: %q", got)
	}
	n1 := count()
	time.Sleep(700 * time.Millisecond)
	if n2 := count(); n2 != n1 {
		t.Fatalf("the counter went from %d to %d while paused", n1, n2)
	}
	if r := e.run("pause", "counter"); r.code != 125 || !strings.Contains(r.stderr, "already paused") {
		t.Errorf("pause twice: %s", r)
	}
	e.must("unpause", "counter")
	eventually(t, 10*time.Second, "the counter to go on", func() bool { return count() > n1+2 })
	if r := e.run("unpause", "counter"); r.code != 125 || !strings.Contains(r.stderr, "not paused") {
		t.Errorf("unpause of a running container: %s", r)
	}
	// stop of a paused container works (it is thawed first).
	e.must("pause", "counter")
	e.must("stop", "-t", "5", "counter")
	if p := e.psOne("counter"); p.State.Status != "exited" {
		t.Errorf("after stop of a paused container: %+v", p)
	}
}

// TestEvents: a run, then rm, logs create, start, die, destroy in order
// (JSON, docker's shape); filters and time bounds select.
func TestEvents(t *testing.T) {
	e, ref := bbEnv(t)
	since := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
	if r := e.run("run", "--name", "ev", "--network", "none", ref, "sh", "-c", "exit 4"); r.code != 4 {
		t.Fatalf("run: %s", r)
	}
	e.must("rm", "ev")
	until := strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10)
	r := e.must("events", "--since", since, "--until", until, "--format", "json", "--filter", "container=ev")
	var actions []string
	var id string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var ev struct {
			Type, Action string
			Actor        struct {
				ID         string
				Attributes map[string]string
			}
			Time     int64 `json:"time"`
			TimeNano int64 `json:"timeNano"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("event line %q: %v", line, err)
		}
		if ev.Type != "container" || ev.Actor.Attributes["name"] != "ev" || ev.Actor.Attributes["image"] != ref || ev.TimeNano/1e9 != ev.Time {
			t.Errorf("event %+v", ev)
		}
		if id == "" {
			id = ev.Actor.ID
		} else if ev.Actor.ID != id {
			t.Errorf("ids %s and %s", id, ev.Actor.ID)
		}
		if ev.Action == "die" && ev.Actor.Attributes["exitCode"] != "4" {
			t.Errorf("die %+v, want exitCode 4", ev.Actor.Attributes)
		}
		actions = append(actions, ev.Action)
	}
	if got := strings.Join(actions, " "); got != "create start die destroy" {
		t.Errorf("actions %q, want create start die destroy", got)
	}
	// event= filters; the default text form names the container.
	r = e.must("events", "--since", since, "--until", until, "--filter", "event=die")
	if n := strings.Count(r.stdout, "\n"); n != 1 || !strings.Contains(r.stdout, " container die "+id+" (") || !strings.Contains(r.stdout, "exitCode=4") {
		t.Errorf("events --filter event=die: %q", r.stdout)
	}
	// Nothing after until.
	if r := e.must("events", "--since", "2000-01-01", "--until", since, "--filter", "container=ev"); r.stdout != "" {
		t.Errorf("events before the run: %q", r.stdout)
	}
	if r := e.run("events", "--since", "yesterday"); r.code != 125 || !strings.Contains(r.stderr, `--since "yesterday"`) {
		t.Errorf("bad --since: %s", r)
	}
	// Without --until, events follows: a new event arrives.
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		done <- e.runCtx(ctx, "events", "--filter", "event=create", "--format", "{{.Actor.Attributes.name}}")
	}()
	time.Sleep(time.Second)
	e.must("create", "--name", "late", "--network", "none", ref, "true")
	res := <-done
	if !strings.Contains(res.stdout, "late\n") {
		t.Errorf("followed events: %s", fmt.Sprint(res))
	}
}
