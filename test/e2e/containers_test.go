package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stockade/stockade/internal/testenv"
	"github.com/stockade/stockade/linux/overlay"
)

var (
	ctrImageOnce sync.Once
	ctrLayout    string
	ctrImageErr  error
)

// ctrImage pushes the test image (the static ctrprog at /bin/ctrprog, an
// /etc/passwd with a user "tester") to reg and returns its reference.
func ctrImage(t *testing.T, reg *registry) string {
	t.Helper()
	need(t, "umoci", "skopeo", "runc")
	ctrImageOnce.Do(func() {
		dir, err := sharedDir("img-")
		if err != nil {
			ctrImageErr = err
			return
		}
		bin := filepath.Join(dir, "ctrprog")
		build := exec.Command("go", "build", "-o", bin, "./testdata/ctrprog")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			ctrImageErr = fmt.Errorf("build ctrprog: %v: %s", err, out)
			return
		}
		prog, err := os.ReadFile(bin)
		if err != nil {
			ctrImageErr = err
			return
		}
		ctrLayout, ctrImageErr = sharedLayout("ctr-", func(rootfs string) error {
			files := map[string]string{
				"etc/passwd": "root:x:0:0:root:/root:/bin/ctrprog\ntester:x:1234:2345:tester:/home/tester:/bin/ctrprog\nnobody:x:65534:65534:nobody:/:/bin/ctrprog\n",
				"etc/group":  "root:x:0:\ntesters:x:2345:tester\nextra:x:3456:tester\nnogroup:x:65534:\n",
				"etc/motd":   "e2e image\n",
			}
			for p, content := range files {
				os.MkdirAll(filepath.Join(rootfs, filepath.Dir(p)), 0o755)
				if err := os.WriteFile(filepath.Join(rootfs, p), []byte(content), 0o644); err != nil {
					return err
				}
			}
			os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755)
			os.MkdirAll(filepath.Join(rootfs, "tmp"), 0o1777)
			os.MkdirAll(filepath.Join(rootfs, "home/tester"), 0o755)
			return os.WriteFile(filepath.Join(rootfs, "bin/ctrprog"), prog, 0o755)
		}, "--config.entrypoint", "/bin/ctrprog", "--config.cmd", "echo", "--config.cmd", "default", "--config.env", "PATH=/bin", "--config.env", "IMAGE_ENV=1")
	})
	if ctrImageErr != nil {
		t.Fatal(ctrImageErr)
	}
	ref := reg.addr + "/e2e/ctr:1"
	pushLayout(t, ctrLayout, ref, "")
	return ref
}

// ctrEnv is an env with the test image pulled.
func ctrEnv(t *testing.T) (*env, string) {
	reg := startRegistry(t)
	ref := ctrImage(t, reg)
	e := newEnv(t)
	e.must("pull", "-q", ref)
	t.Cleanup(func() {
		// Leave no container running behind a failed test.
		out := e.run("ps", "-a", "-q").stdout
		for _, id := range strings.Fields(out) {
			e.run("rm", "-f", id)
		}
	})
	return e, ref
}

type psEntry struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
	State  struct {
		Status       string `json:"status"`
		Pid          int    `json:"pid"`
		MonitorPid   int    `json:"monitorPid"`
		ExitCode     int    `json:"exitCode"`
		RestartCount int    `json:"restartCount"`
	} `json:"state"`
}

func (e *env) ps() []psEntry {
	e.t.Helper()
	var out []psEntry
	r := e.must("ps", "-a", "--format", "json")
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		e.t.Fatalf("ps json: %v: %s", err, r.stdout)
	}
	return out
}

func (e *env) psOne(name string) psEntry {
	e.t.Helper()
	for _, p := range e.ps() {
		if p.Name == name {
			return p
		}
	}
	e.t.Fatalf("container %s not listed", name)
	return psEntry{}
}

// eventually polls cond for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRunForeground(t *testing.T) {
	e, ref := ctrEnv(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"default command", []string{ref}, 0, "default\n", ""},
		{"args replace cmd", []string{ref, "echo", "a", "b"}, 0, "a b\n", ""},
		{"exit code", []string{ref, "exit", "3"}, 3, "exiting with 3\n", ""},
		{"stderr", []string{ref, "stderr", "oops"}, 0, "", "oops\n"},
		{"env", []string{"-e", "FOO=bar", ref, "env", "FOO"}, 0, "FOO=bar\n", ""},
		{"image env", []string{ref, "env", "IMAGE_ENV"}, 0, "IMAGE_ENV=1\n", ""},
		{"user workdir hostname", []string{"-u", "tester", "-w", "/home/tester", "--hostname", "box", ref, "whoami"}, 0, "uid=1234 gid=2345 cwd=/home/tester host=box\n", ""},
		{"numeric user", []string{"-u", "4000:4001", ref, "whoami"}, 0, "uid=4000 gid=4001 cwd=/ host=", ""},
		{"entrypoint", []string{"--entrypoint", "/bin/ctrprog", ref, "exit", "0"}, 0, "exiting with 0\n", ""},
		{"stdin", []string{"-i", ref, "cat"}, 0, "from stdin\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"run", "--rm"}, tt.args...)
			cmd := exec.Command(stockadeBin, append([]string{"--root", e.root, "--state", e.state, "--config", filepath.Join(e.dir, "stockade.toml")}, args...)...)
			cmd.Stdin = strings.NewReader("from stdin\n")
			var out, errb strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errb.String())
			}
			if tt.name == "numeric user" {
				if !strings.HasPrefix(out.String(), tt.stdout) {
					t.Errorf("stdout %q, want prefix %q", out.String(), tt.stdout)
				}
			} else if out.String() != tt.stdout {
				t.Errorf("stdout %q, want %q", out.String(), tt.stdout)
			}
			if errb.String() != tt.stderr {
				t.Errorf("stderr %q, want %q", errb.String(), tt.stderr)
			}
		})
	}
	// --rm left nothing behind.
	if ps := e.ps(); len(ps) != 0 {
		t.Errorf("--rm left %d containers", len(ps))
	}
}

func TestVolumes(t *testing.T) {
	e, ref := ctrEnv(t)
	host := t.TempDir()
	r := e.run("run", "--rm", "-v", host+":/data", ref, "write", "/data/out.txt", "hello volume")
	if r.code != 0 {
		t.Fatalf("rw volume: %s", r)
	}
	if got := readFile(t, filepath.Join(host, "out.txt")); got != "hello volume" {
		t.Errorf("host file = %q", got)
	}
	r = e.run("run", "--rm", "-v", host+":/data:ro", ref, "write", "/data/ro.txt", "x")
	if r.code != 1 || !strings.Contains(r.stdout, "read-only file system") {
		t.Errorf("ro volume must refuse the write: %s", r)
	}
	if _, err := os.Stat(filepath.Join(host, "ro.txt")); !os.IsNotExist(err) {
		t.Errorf("write through a ro volume reached the host: %v", err)
	}
}

func TestDetachedLifecycle(t *testing.T) {
	e, ref := ctrEnv(t)
	r := e.must("run", "-d", "--name", "sleeper", ref, "sleep", "1h")
	id := strings.TrimSpace(r.stdout)
	if len(id) != 64 {
		t.Fatalf("run -d printed %q, want the id", r.stdout)
	}
	p := e.psOne("sleeper")
	if p.State.Status != "running" || p.State.Pid <= 0 {
		t.Fatalf("ps: %+v", p)
	}
	if out := e.must("ps").stdout; !strings.Contains(out, "sleeper") || !strings.Contains(out, id[:12]) {
		t.Errorf("ps table: %q", out)
	}
	// exec, by name and by id prefix, with its exit code.
	if out := e.must("exec", "sleeper", "/bin/ctrprog", "echo", "inside").stdout; out != "inside\n" {
		t.Errorf("exec output %q", out)
	}
	if r := e.run("exec", id[:8], "/bin/ctrprog", "exit", "5"); r.code != 5 {
		t.Errorf("exec exit code %d, want 5", r.code)
	}
	if r := e.run("exec", "-e", "X=1", "-u", "tester", "-w", "/tmp", "sleeper", "/bin/ctrprog", "whoami"); !strings.HasPrefix(r.stdout, "uid=1234 gid=2345 cwd=/tmp") {
		t.Errorf("exec -u -w: %s", r)
	}
	if out := e.must("top", "sleeper").stdout; !strings.Contains(out, "/bin/ctrprog sleep 1h") {
		t.Errorf("top: %q", out)
	}
	// rm without -f refuses a running container.
	if r := e.run("rm", "sleeper"); r.code != 125 || !strings.Contains(r.stderr, "running") {
		t.Errorf("rm of a running container: %s", r)
	}
	start := time.Now()
	e.must("stop", "sleeper")
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("stop took %s for a process that exits on SIGTERM", d)
	}
	p = e.psOne("sleeper")
	if p.State.Status != "exited" {
		t.Errorf("after stop: %+v", p)
	}
	if out := e.must("ps", "-q").stdout; out != "" {
		t.Errorf("ps without -a lists a stopped container: %q", out)
	}
	// start again, then rm -f.
	e.must("start", "sleeper")
	if p := e.psOne("sleeper"); p.State.Status != "running" {
		t.Errorf("after start: %+v", p)
	}
	e.must("rm", "-f", "sleeper")
	if len(e.ps()) != 0 {
		t.Error("rm -f left the container")
	}
	if r := e.run("rm", "sleeper"); r.code != 125 || !strings.Contains(r.stderr, "no such container") {
		t.Errorf("rm of a removed container: %s", r)
	}
}

func TestStopTimeoutKills(t *testing.T) {
	e, ref := ctrEnv(t)
	e.must("run", "-d", "--name", "stubborn", ref, "ignore-term")
	eventually(t, 5*time.Second, "the container to print", func() bool {
		return strings.Contains(e.run("logs", "stubborn").stdout, "ignoring SIGTERM")
	})
	start := time.Now()
	e.must("stop", "-t", "1", "stubborn")
	d := time.Since(start)
	if d < time.Second || d > 8*time.Second {
		t.Errorf("stop -t 1 took %s", d)
	}
	if p := e.psOne("stubborn"); p.State.ExitCode != 137 {
		t.Errorf("exit code %d, want 137 (SIGKILL)", p.State.ExitCode)
	}
}

func TestLogs(t *testing.T) {
	e, ref := ctrEnv(t)
	e.must("run", "-d", "--name", "ticker", ref, "ticks", "10")
	r := e.must("logs", "-f", "ticker")
	want := ""
	for i := 0; i < 10; i++ {
		want += fmt.Sprintf("tick %d\n", i)
	}
	if r.stdout != want {
		t.Errorf("logs -f = %q", r.stdout)
	}
	if out := e.must("logs", "--tail", "2", "ticker").stdout; out != "tick 8\ntick 9\n" {
		t.Errorf("logs --tail 2 = %q", out)
	}
	if r := e.run("logs", "--tail", "x", "ticker"); r.code != 125 {
		t.Errorf("bad --tail: %s", r)
	}
	e.must("wait", "ticker")
	if out := e.must("wait", "ticker").stdout; out != "0\n" {
		t.Errorf("wait printed %q", out)
	}
}

func TestRestartPolicies(t *testing.T) {
	e, ref := ctrEnv(t)
	host := t.TempDir()
	e.must("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "-v", host+":/data", ref, "count", "/data/starts")
	eventually(t, 20*time.Second, "on-failure:2 to give up", func() bool {
		p := e.psOne("flaky")
		return p.State.Status == "exited"
	})
	if got := strings.Count(readFile(t, filepath.Join(host, "starts")), "start"); got != 3 {
		t.Errorf("started %d times, want 3 (1 + 2 restarts)", got)
	}
	if p := e.psOne("flaky"); p.State.RestartCount != 2 || p.State.ExitCode != 1 {
		t.Errorf("state %+v", p.State)
	}

	e.must("run", "-d", "--name", "forever", "--restart", "always", ref, "exit", "0")
	eventually(t, 20*time.Second, "always to restart", func() bool {
		return e.psOne("forever").State.RestartCount >= 2
	})
	e.must("stop", "forever")
	p := e.psOne("forever")
	if p.State.Status != "exited" {
		t.Fatalf("stop of an always container: %+v", p)
	}
	n := p.State.RestartCount
	time.Sleep(time.Second)
	if p := e.psOne("forever"); p.State.RestartCount != n || p.State.Status != "exited" {
		t.Errorf("a stopped always container restarted: %+v", p)
	}

	e.must("run", "-d", "--name", "once", ref, "exit", "4")
	eventually(t, 10*time.Second, "no policy to leave it exited", func() bool {
		return e.psOne("once").State.Status == "exited"
	})
	if p := e.psOne("once"); p.State.RestartCount != 0 || p.State.ExitCode != 4 {
		t.Errorf("restart=no: %+v", p.State)
	}
}

// TestMonitorKilled kills the monitor (and then the container) with
// SIGKILL: ps must tell the truth and rm -f must clean up.
func TestMonitorKilled(t *testing.T) {
	e, ref := ctrEnv(t)
	e.must("run", "-d", "--name", "orphan", ref, "sleep", "1h")
	p := e.psOne("orphan")
	if p.State.MonitorPid <= 0 || p.State.Pid <= 0 {
		t.Fatalf("no pids: %+v", p.State)
	}
	syscall.Kill(p.State.MonitorPid, syscall.SIGKILL)
	time.Sleep(200 * time.Millisecond)
	if got := e.psOne("orphan"); got.State.Status != "running" {
		t.Errorf("monitor gone but process alive: ps says %s", got.State.Status)
	}
	syscall.Kill(p.State.Pid, syscall.SIGKILL)
	eventually(t, 5*time.Second, "ps to say exited", func() bool {
		return e.psOne("orphan").State.Status == "exited"
	})
	e.must("rm", "-f", "orphan")
	if len(e.ps()) != 0 {
		t.Error("rm -f left the container")
	}
	if out, _ := exec.Command("grep", "-c", e.dir, "/proc/self/mountinfo").Output(); strings.TrimSpace(string(out)) != "0" {
		t.Errorf("mounts left under the test root: %s", out)
	}

	// An attached run whose monitor is killed does not report success:
	// the exit status is unknown (it said 0 before).
	cmd := e.command(context.Background(), "run", "--name", "attached", ref, "sleep", "1h")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the attached run to run", func() bool {
		for _, p := range e.ps() {
			if p.Name == "attached" && p.State.Status == "running" && p.State.MonitorPid > 0 {
				return true
			}
		}
		return false
	})
	syscall.Kill(e.psOne("attached").State.MonitorPid, syscall.SIGKILL)
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 125 || !strings.Contains(stderr.String(), "the monitor of attached ended before the container's exit was recorded") || strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 {
		t.Errorf("attached run with its monitor killed: exit %d (%v), stderr %q; want 125 and one line", code, err, stderr.String())
	}
	e.must("rm", "-f", "attached")
}

func TestParallelRuns(t *testing.T) {
	e, ref := ctrEnv(t)
	const n = 20
	var wg sync.WaitGroup
	results := make([]result, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = e.run("run", "-d", "--name", "par"+strconv.Itoa(i), ref, "sleep", "1h")
		}(i)
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("run %d: %s", i, r)
		}
	}
	running := 0
	for _, p := range e.ps() {
		if p.State.Status == "running" {
			running++
		}
	}
	if running != n {
		t.Errorf("%d running, want %d", running, n)
	}
	ids := strings.Fields(e.must("ps", "-q").stdout)
	e.must(append([]string{"rm", "-f"}, ids...)...)
	if len(e.ps()) != 0 {
		t.Error("containers left after rm -f")
	}
}

func TestRunErrors(t *testing.T) {
	e, ref := ctrEnv(t)
	e.must("create", "--name", "taken", ref)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing image", []string{"run", "--rm", strings.Split(ref, "/")[0] + "/no/such:image"}, 125, "no/such"},
		{"bad volume", []string{"run", "--rm", "-v", "relative:x", ref}, 125, "relative:x"}, // relative:/x is the named volume "relative"
		{"unknown user", []string{"run", "--rm", "-u", "bob", ref}, 125, `"bob"`},
		// An unnamed container's errors do not name the generated name.
		{"unknown user, unnamed", []string{"run", "-u", "bob", ref}, 125, `stockade: create: `},
		{"unknown user, named", []string{"run", "--name", "mine", "-u", "bob", ref}, 125, `stockade: create mine: `},
		{"command not in image", []string{"run", "--rm", "--entrypoint", "/bin/nope", ref}, 127, "/bin/nope"},
		{"name in use", []string{"run", "--rm", "--name", "taken", ref}, 125, "taken"},
		{"bad restart", []string{"run", "--restart", "sometimes", ref}, 125, "sometimes"},
		{"rm and restart", []string{"run", "--rm", "--restart", "always", ref}, 125, "--rm"},
		// A run whose container never started leaves nothing, whatever
		// the flags (issue 14): foreground, detached, with a restart policy.
		{"missing command, no --rm", []string{"run", "--name", "again", "--entrypoint", "/bin/nope", ref}, 127, "/bin/nope"},
		{"missing command again", []string{"run", "--name", "again", "--entrypoint", "/bin/nope", ref}, 127, "/bin/nope"},
		{"missing command detached", []string{"run", "-d", "--name", "again", "--entrypoint", "/bin/nope", ref}, 127, "/bin/nope"},
		{"missing command in PATH", []string{"run", "-d", "--restart", "always", "--entrypoint", "nope", ref}, 127, `"nope"`},
		{"not executable", []string{"run", "--entrypoint", "/etc/motd", ref}, 126, "/etc/motd"},
		// A missing bind-mount source is a refusal (125), not "command
		// not found" (127), and is caught before anything is made.
		{"missing bind source", []string{"run", "-v", "/nonexistent/src:/x", ref}, 125, "/nonexistent/src"},
		{"missing bind source detached", []string{"run", "-d", "-v", "/nonexistent/src:/x", ref}, 125, "/nonexistent/src"},
		// Refused by runc itself, after the foreground CLI attached (one
		// runc call creates and starts): the error comes in the exit frame.
		{"runtime refuses the working directory", []string{"run", "--rm", "-w", "/etc/motd", ref}, 125, "/etc/motd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.run(tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d: %s", r.code, tt.code, r)
			}
			if strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr must be one line naming %q: %q", tt.want, r.stderr)
			}
			if strings.Count(r.stderr, ": start ") > 1 {
				t.Errorf("stderr says start twice: %q", r.stderr)
			}
		})
	}
	if ps := e.ps(); len(ps) != 1 || ps[0].Name != "taken" {
		t.Errorf("failed runs left containers: %+v", ps)
	}
	// Nor roots or directories without a container (what system check
	// would report).
	if r := e.must("system", "check", "--dry-run"); strings.TrimSpace(r.stdout) != "no problems found" {
		t.Errorf("failed runs left what system check finds:\n%s", r.stdout)
	}
	// A runtime binary that is not installed.
	conf := filepath.Join(e.dir, "badruntime.toml")
	os.WriteFile(conf, []byte("[runc]\nbinary = \"/nonexistent/runc\"\n"), 0o644)
	cmd := exec.Command(stockadeBin, "--root", e.root, "--state", e.state, "--config", conf, "run", "--rm", ref)
	out, err := cmd.CombinedOutput()
	ee, _ := err.(*exec.ExitError)
	if ee == nil || ee.ExitCode() != 125 || !strings.Contains(string(out), "/nonexistent/runc") {
		t.Errorf("missing runtime binary: %v %s", err, out)
	}
}

// TestSystemCheckRepairs leaves what crashes leave (a container root with
// no record, a run directory with no container, a record that says
// running after its monitor and process died) and checks that
// `system check` finds and repairs each, and then finds nothing.
func TestSystemCheckRepairs(t *testing.T) {
	e, ref := ctrEnv(t)
	e.must("run", "-d", "--name", "crashed", ref, "sleep", "1h")
	p := e.psOne("crashed")
	syscall.Kill(p.State.MonitorPid, syscall.SIGKILL)
	syscall.Kill(p.State.Pid, syscall.SIGKILL)
	time.Sleep(300 * time.Millisecond)

	rec := e.inspectImage(ref)
	sn, err := overlay.New(filepath.Join(e.root, "snapshots", "overlay"))
	if err != nil {
		t.Fatal(err)
	}
	orphan := "ctr-" + strings.Repeat("ab", 32)
	if _, err := sn.Prepare(context.Background(), orphan, rec.ChainIDs[len(rec.ChainIDs)-1]); err != nil {
		t.Fatal(err)
	}
	sn.Close()
	stale := filepath.Join(e.state, "c", "0123456789ab")
	os.MkdirAll(filepath.Join(stale, "rootfs"), 0o700)

	r := e.must("system", "check", "--dry-run")
	for _, want := range []string{"container crashed: recorded as running", "snapshot " + orphan, "directory " + stale} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("check --dry-run misses %q:\n%s", want, r.stdout)
		}
	}
	r = e.must("system", "check")
	if strings.Count(r.stdout, "(repaired)") < 3 {
		t.Errorf("check did not repair all:\n%s", r.stdout)
	}
	if r := e.must("system", "check"); strings.TrimSpace(r.stdout) != "no problems found" {
		t.Errorf("second check still finds problems:\n%s", r.stdout)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale run dir survived: %v", err)
	}
	if p := e.psOne("crashed"); p.State.Status != "exited" {
		t.Errorf("record not repaired: %+v", p.State)
	}
	// df lists the image and the container; prune removes the container.
	df := e.must("system", "df", "-v").stdout
	if !strings.Contains(df, ref) || !strings.Contains(df, "crashed") {
		t.Errorf("df:\n%s", df)
	}
	e.must("system", "prune", "-f")
	if len(e.ps()) != 0 {
		t.Error("prune left the exited container")
	}
}

func TestTerminal(t *testing.T) {
	e, ref := ctrEnv(t)
	r := e.must("run", "--rm", ref, "isatty")
	if r.stdout != "tty=false\n" {
		t.Errorf("without -t: %q", r.stdout)
	}
	r = e.must("run", "--rm", "-t", ref, "isatty")
	if !strings.HasPrefix(r.stdout, "tty=true") {
		t.Errorf("run -t: %q", r.stdout)
	}
	e.must("run", "-d", "--name", "tty-host", ref, "sleep", "1h")
	if r := e.must("exec", "-t", "tty-host", "/bin/ctrprog", "isatty"); !strings.HasPrefix(r.stdout, "tty=true") {
		t.Errorf("exec -t: %q", r.stdout)
	}
	if r := e.must("exec", "tty-host", "/bin/ctrprog", "isatty"); r.stdout != "tty=false\n" {
		t.Errorf("exec without -t: %q", r.stdout)
	}
	// Through a real terminal (script(1) gives stockade one): the window
	// size reaches the container and input typed there reaches cat.
	testenv.RequireCommand(t, "script")
	cmdline := fmt.Sprintf("stty rows 33 cols 99; %s --root %s --state %s --config %s run --rm -it %s isatty", stockadeBin, e.root, e.state, filepath.Join(e.dir, "stockade.toml"), ref)
	out, err := exec.Command("script", "-qec", cmdline, "/dev/null").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "tty=true rows=33 cols=99") {
		t.Errorf("run -it under script: %v %q", err, out)
	}
}

// TestCtrlCStopsForegroundRun sends SIGINT to a foreground `run`, as a
// terminal's Ctrl-C does: the container is told, stops, and run exits.
func TestCtrlCStopsForegroundRun(t *testing.T) {
	e, ref := ctrEnv(t)
	cmd := exec.Command(stockadeBin, "--root", e.root, "--state", e.state, "--config", filepath.Join(e.dir, "stockade.toml"),
		"run", "--rm", "--name", "fg", ref, "sleep", "1h")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the container to run", func() bool {
		for _, p := range e.ps() {
			if p.Name == "fg" && p.State.Status == "running" {
				return true
			}
		}
		return false
	})
	start := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("run exited 0 after Ctrl-C; output %q", out.String())
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("run still going 15 s after SIGINT; output %q", out.String())
	}
	t.Logf("run ended %s after SIGINT", time.Since(start))
	eventually(t, 5*time.Second, "--rm to remove the container", func() bool { return len(e.ps()) == 0 })
}

func TestLogsSinceAndTimestamps(t *testing.T) {
	e, ref := ctrEnv(t)
	e.must("run", "--name", "once", ref, "echo", "logged line")
	if out := e.must("logs", "--since", "1h", "once").stdout; out != "logged line\n" {
		t.Errorf("--since 1h: %q", out)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if out := e.must("logs", "--since", future, "once").stdout; out != "" {
		t.Errorf("--since a future time: %q", out)
	}
	out := e.must("logs", "--timestamps", "once").stdout
	stamp, rest, _ := strings.Cut(out, " ")
	if _, err := time.Parse(time.RFC3339Nano, stamp); err != nil || rest != "logged line\n" {
		t.Errorf("--timestamps: %q (%v)", out, err)
	}
	if r := e.run("logs", "--since", "yesterday", "once"); r.code != 125 {
		t.Errorf("bad --since: %s", r)
	}
}

// TestPullProgressOnTerminal: progress bars appear when stderr is a
// terminal (script(1) gives one) and never on a pipe.
func TestPullProgressOnTerminal(t *testing.T) {
	need(t, "script")
	reg := startRegistry(t)
	ref := ctrImage(t, reg)
	e := newEnv(t)
	r := e.must("pull", ref)
	if r.stderr != "" {
		t.Errorf("pull on a pipe wrote to stderr: %q", r.stderr)
	}
	e2 := newEnv(t)
	cmdline := fmt.Sprintf("stty rows 40 cols 120; %s --root %s --state %s --config %s pull %s", stockadeBin, e2.root, e2.state, filepath.Join(e2.dir, "stockade.toml"), ref)
	out, err := exec.Command("script", "-qec", cmdline, "/dev/null").CombinedOutput()
	if err != nil {
		t.Fatalf("pull under script: %v %q", err, out)
	}
	rec := e2.inspectImage(ref)
	short := strings.TrimPrefix(rec.Layers[0].Digest, "sha256:")[:12]
	if !strings.Contains(string(out), short) {
		t.Errorf("no progress bar naming layer %s on a terminal: %q", short, out)
	}
}

// TestBootAndShutdown is what rc.d does around a reboot: shutdown stops
// running containers, boot brings back those whose policy asks for it;
// and after a crash (monitor and process killed, as a power cut would),
// boot restarts an `always` container.
func TestBootAndShutdown(t *testing.T) {
	e, ref := ctrEnv(t)
	e.must("run", "-d", "--name", "svc", "--restart", "always", ref, "sleep", "1h")
	e.must("run", "-d", "--name", "manual", "--restart", "unless-stopped", ref, "sleep", "1h")
	e.must("run", "-d", "--name", "plain", ref, "sleep", "1h")
	e.must("stop", "manual")

	out := e.must("shutdown", "-t", "2").stdout
	if !strings.Contains(out, "svc") || !strings.Contains(out, "plain") || strings.Contains(out, "manual") {
		t.Errorf("shutdown stopped %q", out)
	}
	for _, p := range e.ps() {
		if p.State.Status != "exited" {
			t.Errorf("%s is %s after shutdown", p.Name, p.State.Status)
		}
	}
	out = e.must("boot").stdout
	if strings.TrimSpace(out) != "svc" {
		t.Errorf("boot started %q, want only svc (always); manual was stopped by a user, plain has no policy", out)
	}
	if p := e.psOne("svc"); p.State.Status != "running" {
		t.Errorf("svc after boot: %+v", p.State)
	}

	// A crash: the monitor and the process die without a shutdown.
	p := e.psOne("svc")
	syscall.Kill(p.State.MonitorPid, syscall.SIGKILL)
	syscall.Kill(p.State.Pid, syscall.SIGKILL)
	eventually(t, 5*time.Second, "svc to be seen exited", func() bool { return e.psOne("svc").State.Status == "exited" })
	if out := e.must("boot").stdout; strings.TrimSpace(out) != "svc" {
		t.Errorf("boot after a crash started %q", out)
	}
	if p := e.psOne("svc"); p.State.Status != "running" {
		t.Errorf("svc after boot following a crash: %+v", p.State)
	}
}

// TestExecErrors: a failed exec says "exec NAME", once, with docker's exit
// codes, and never the runtime's own prefix with the 64-digit id.
func TestExecErrors(t *testing.T) {
	e, ref := ctrEnv(t)
	id := strings.TrimSpace(e.must("run", "-d", "--name", "busy", ref, "sleep", "1h").stdout)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"exec", "busy", "/bin/nope"}, 127, "exec busy: "},
		{[]string{"exec", "busy", "nope"}, 127, `"nope"`},
		{[]string{"exec", "busy", "/etc/motd"}, 126, "permission denied"},
	}
	for _, tt := range tests {
		r := e.run(tt.args...)
		if r.code != tt.code {
			t.Errorf("%v: exit %d, want %d: %s", tt.args, r.code, tt.code, r)
		}
		if strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, tt.want) || strings.Contains(r.stderr, id) || strings.Contains(r.stderr, "start ") {
			t.Errorf("%v: stderr must be one line with %q, without the id or 'start': %q", tt.args, tt.want, r.stderr)
		}
	}
}

// TestRootMountModes checks how the monitor mounts a root: a --rm
// container's overlay is volatile (nothing of it is synced: it goes at the
// exit), a kept container's is not and mounts again for a second start.
// A --rm root whose volatile mount went down without its monitor (the
// host's crash, here a SIGKILL and a plain unmount) is refused by the
// kernel, and the error says why.
func TestRootMountModes(t *testing.T) {
	e, ref := ctrEnv(t)
	rootLine := func(r result) string {
		t.Helper()
		line := strings.TrimSpace(r.stdout)
		if !strings.Contains(line, " - overlay ") {
			t.Fatalf("root mount: %q, want one overlay line", r.stdout)
		}
		return line
	}
	if line := rootLine(e.must("run", "--rm", ref, "rootmount")); !strings.Contains(line, "volatile") {
		t.Errorf("--rm root is not volatile: %s", line)
	}
	if line := rootLine(e.must("run", "--name", "kept", ref, "rootmount")); strings.Contains(line, "volatile") {
		t.Errorf("a kept container's root is volatile: %s", line)
	}
	if line := rootLine(e.must("start", "-a", "kept")); strings.Contains(line, "volatile") {
		t.Errorf("second start: %s", line)
	}
	e.must("rm", "kept")

	// run's create leaves the root mounted and the monitor takes that
	// mount over: one mount on the host, not one stacked on another.
	e.must("run", "-d", "--rm", "--name", "once", ref, "sleep", "1h")
	root := filepath.Join(e.state, "c", e.psOne("once").ID[:12], "rootfs")
	if n := mountsAt(t, root); n != 1 {
		t.Errorf("%d mounts at a running container's root %s, want 1", n, root)
	}
	e.must("rm", "-f", "once")

	e.must("run", "-d", "--rm", "--name", "crash", ref, "sleep", "1h")
	p := e.psOne("crash")
	syscall.Kill(p.State.MonitorPid, syscall.SIGKILL)
	syscall.Kill(p.State.Pid, syscall.SIGKILL)
	eventually(t, 5*time.Second, "ps to say exited", func() bool {
		return e.psOne("crash").State.Status == "exited"
	})
	unmountUnder(e.dir)
	r := e.run("start", "crash")
	if r.code == 0 || !strings.Contains(r.stderr, "mounted volatile") {
		t.Errorf("start of a --rm root left volatile: %s; want an error that says so", r)
	}
	e.must("rm", "-f", "crash")
	if len(e.ps()) != 0 {
		t.Error("rm -f left the container")
	}
}

// TestRunRmLeavesNothing: when run --rm returns, the container is gone:
// ps does not list it and its name is free for the next run at once. Its
// monitor deletes the root's and the container's files after it sent the
// exit (engine.destroyDeferred); once it has ended, nothing of the
// container is left on disk.
func TestRunRmLeavesNothing(t *testing.T) {
	e, ref := ctrEnv(t)
	dirs := []string{
		filepath.Join(e.root, "snapshots", "overlay", "snapshots"),
		filepath.Join(e.root, "containers"),
		filepath.Join(e.state, "c"),
	}
	left := func() []string {
		var names []string
		for _, d := range dirs {
			ents, _ := os.ReadDir(d)
			for _, ent := range ents {
				names = append(names, filepath.Join(d, ent.Name()))
			}
		}
		return names
	}
	before := left()
	for i := range 3 {
		if r := e.run("run", "--rm", "--name", "once", ref, "exit", "3"); r.code != 3 {
			t.Fatalf("run %d: %s", i, r)
		}
		if ps := e.ps(); len(ps) != 0 {
			t.Fatalf("run %d: ps lists %+v after run --rm returned", i, ps)
		}
	}
	eventually(t, 5*time.Second, "the monitors to delete the containers' files", func() bool {
		return slices.Equal(left(), before)
	})
}

// mountsAt counts the host's mounts whose mount point is dir.
func mountsAt(t *testing.T, dir string) int {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			n++
		}
	}
	return n
}

// TestRunSurvivesItsCommandLine: the monitor that `run` starts (before it
// parses its command line, see cmd/stockade's startRunMonitor) outlives
// the foreground `run` it belongs to. Killed with SIGKILL, the command
// line takes nothing with it: the container runs on, its output is
// logged, its exit is recorded, and a --rm container is removed at its
// exit.
func TestRunSurvivesItsCommandLine(t *testing.T) {
	e, ref := ctrEnv(t)
	for _, tc := range []struct {
		name string
		rm   bool
	}{{"kept", false}, {"removed", true}} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"run", "--name", tc.name, "--network", "none"}
			if tc.rm {
				args = append(args, "--rm")
			}
			args = append(args, ref, "ticks", "40") // 2 s of output
			cmd := e.command(context.Background(), args...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "the run to run", func() bool {
				for _, p := range e.ps() {
					if p.Name == tc.name && p.State.Status == "running" && p.State.MonitorPid > 0 {
						return true
					}
				}
				return false
			})
			cmd.Process.Kill()
			cmd.Wait()
			if p := e.psOne(tc.name); p.State.Status != "running" || syscall.Kill(p.State.MonitorPid, 0) != nil {
				t.Fatalf("after the command line was killed: %+v, want it running with its monitor", p)
			}
			if tc.rm {
				eventually(t, 15*time.Second, "the --rm container to be removed at its exit", func() bool {
					for _, p := range e.ps() {
						if p.Name == tc.name {
							return false
						}
					}
					return true
				})
				return
			}
			eventually(t, 15*time.Second, "the exit to be recorded", func() bool {
				return e.psOne(tc.name).State.Status == "exited"
			})
			if p := e.psOne(tc.name); p.State.ExitCode != 0 {
				t.Errorf("exit code %d, want 0", p.State.ExitCode)
			}
			out := e.must("logs", tc.name).stdout
			if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 40 || lines[0] != "tick 0" || lines[39] != "tick 39" {
				t.Errorf("logs = %q, want the 40 ticks, those after the kill too", out)
			}
		})
	}
}
