package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stockade/stockade/engine"
)

// The monitor of a container that runs idle hands over to the small
// monitor, stockade-monitor (built next to stockade by TestMain), and the
// small one execs the full monitor back at the exit. These tests set
// [monitor] idle_after short and check that the monitor's duties hold
// across both execs.

// handoverEnv is an env with the busybox image pulled and a monitor idle
// time of 300 ms.
func handoverEnv(t *testing.T) (*env, string) {
	t.Helper()
	reg := startRegistry(t)
	ref := busyboxImage(t, reg)
	e := newEnv(t)
	if err := os.WriteFile(filepath.Join(e.dir, "stockade.toml"), []byte("[monitor]\nidle_after = \"300ms\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.must("pull", "-q", ref)
	return e, ref
}

// fullMonitor is the program of a monitor before the handover (and
// after it, at the exit) when NRI is off: the lean stockade-supervisor.
const fullMonitor = "stockade-supervisor"

// exeOf is the base name of the program pid runs.
func exeOf(pid int) string {
	p, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return ""
	}
	return filepath.Base(p)
}

// handedOver waits until the monitor of name runs stockade-monitor, in the
// process the record names, and returns its pid.
func (e *env) handedOver(name string) int {
	e.t.Helper()
	pid := e.psOne(name).State.MonitorPid
	if pid <= 0 {
		e.t.Fatalf("%s has no monitor pid", name)
	}
	eventually(e.t, 10*time.Second, name+"'s monitor to hand over", func() bool { return exeOf(pid) == "stockade-monitor" })
	if got := e.psOne(name).State.MonitorPid; got != pid {
		e.t.Fatalf("the record's monitor pid changed from %d to %d", pid, got)
	}
	return pid
}

// TestHandoverLogAndExit: a container that prints a numbered line every
// 100 ms hands over while it prints; the log has every line once, in
// order, and its exit code is recorded by the monitor exec'd back.
func TestHandoverLogAndExit(t *testing.T) {
	e, ref := handoverEnv(t)
	e.must("run", "-d", "--network", "none", "--name", "lines", ref, "sh", "-c",
		`i=0; while [ $i -lt 30 ]; do echo "line $i"; i=$((i+1)); sleep 0.1; done; exit 3`)
	pid := e.handedOver("lines")
	if out := e.must("wait", "lines").stdout; out != "3\n" {
		t.Errorf("wait printed %q, want 3", out)
	}
	p := e.psOne("lines")
	if p.State.Status != "exited" || p.State.ExitCode != 3 {
		t.Errorf("after the exit: %+v", p.State)
	}
	var want strings.Builder
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	if got := e.must("logs", "lines").stdout; got != want.String() {
		t.Errorf("logs across the handover:\n%s\nwant every line once, in order", got)
	}
	eventually(t, 5*time.Second, "the monitor to end", func() bool { return syscall.Kill(pid, 0) != nil })
}

// attachClient is a client of a container's attach socket, speaking the
// frame protocol as stockade run does.
type attachClient struct {
	t    *testing.T
	conn net.Conn
}

func (e *env) attach(id string, hello engine.AttachHello) *attachClient {
	e.t.Helper()
	conn, err := net.Dial("unix", filepath.Join(e.state, "c", id[:12], "attach.sock"))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	b, _ := json.Marshal(hello)
	if err := engine.WriteFrame(conn, engine.FrameHello, b); err != nil {
		e.t.Fatal(err)
	}
	return &attachClient{t: e.t, conn: conn}
}

func (a *attachClient) send(kind byte, payload []byte) {
	a.t.Helper()
	if err := engine.WriteFrame(a.conn, kind, payload); err != nil {
		a.t.Fatal(err)
	}
}

// readUntil reads frames until the output holds want or the exit frame
// came, and returns the output and the exit code (-1 for none).
func (a *attachClient) readUntil(want string) (string, int) {
	a.t.Helper()
	a.conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	var out strings.Builder
	for {
		kind, payload, err := engine.ReadFrame(a.conn)
		if err != nil {
			a.t.Fatalf("attach: %v (output so far %q)", err, out.String())
		}
		switch kind {
		case engine.FrameStdout, engine.FrameStderr:
			out.Write(payload)
			if want != "" && strings.Contains(out.String(), want) {
				return out.String(), -1
			}
		case engine.FrameExit:
			var m engine.ExitMessage
			json.Unmarshal(payload, &m)
			return out.String(), m.ExitCode
		}
	}
}

// TestHandoverAttachStdin: a client that attaches to the small monitor
// gets the output and feeds stdin; its end of input ends cat, and it gets
// the exit code from the monitor exec'd back, which took it over.
func TestHandoverAttachStdin(t *testing.T) {
	e, ref := handoverEnv(t)
	e.must("run", "-d", "-i", "--network", "none", "--name", "cat", ref, "cat")
	e.handedOver("cat")
	a := e.attach(e.psOne("cat").ID, engine.AttachHello{Stdin: true})
	a.send(engine.FrameStdin, []byte("hello after the handover\n"))
	if out, _ := a.readUntil("hello after the handover\n"); out != "hello after the handover\n" {
		t.Errorf("attached output %q", out)
	}
	a.send(engine.FrameStdinClose, nil)
	if out, code := a.readUntil(""); code != 0 || out != "" {
		t.Errorf("after the end of input: output %q, exit %d", out, code)
	}
	if p := e.psOne("cat"); p.State.Status != "exited" || p.State.ExitCode != 0 {
		t.Errorf("after the exit: %+v", p.State)
	}
	if got := e.must("logs", "cat").stdout; got != "hello after the handover\n" {
		t.Errorf("log %q", got)
	}
}

// TestHandoverStop: stop reaches the container through the runtime and
// the resumed monitor records the signal's exit code.
func TestHandoverStop(t *testing.T) {
	e, ref := handoverEnv(t)
	e.must("run", "-d", "--network", "none", "--name", "sleeper", ref, "sleep", "3600")
	e.handedOver("sleeper")
	e.must("stop", "-t", "1", "sleeper")
	p := e.psOne("sleeper")
	// busybox sleep as pid 1 ignores SIGTERM: stop ends it with SIGKILL.
	if p.State.Status != "exited" || p.State.ExitCode != 137 {
		t.Errorf("after stop: %+v", p.State)
	}
}

// TestHandoverRestart: an on-failure:2 container whose every run hands
// over before it fails is restarted twice, counted in the record.
func TestHandoverRestart(t *testing.T) {
	e, ref := handoverEnv(t)
	host := t.TempDir()
	e.must("run", "-d", "--network", "none", "--name", "flaky", "--restart", "on-failure:2", "-v", host+":/data", ref,
		"sh", "-c", "echo start >> /data/starts; sleep 1; exit 1")
	e.handedOver("flaky")
	eventually(t, 30*time.Second, "on-failure:2 to give up", func() bool {
		return e.psOne("flaky").State.Status == "exited"
	})
	if got := strings.Count(readFile(t, filepath.Join(host, "starts")), "start"); got != 3 {
		t.Errorf("started %d times, want 3 (1 + 2 restarts)", got)
	}
	if p := e.psOne("flaky"); p.State.RestartCount != 2 || p.State.ExitCode != 1 {
		t.Errorf("state %+v", p.State)
	}
}

// TestHandoverAutoRemove: a --rm container that exits after the handover
// is removed, its root unmounted.
func TestHandoverAutoRemove(t *testing.T) {
	e, ref := handoverEnv(t)
	e.must("run", "-d", "--rm", "--network", "none", "--name", "brief", ref, "sleep", "1")
	pid := e.handedOver("brief")
	eventually(t, 15*time.Second, "--rm to remove it", func() bool { return len(e.ps()) == 0 })
	eventually(t, 5*time.Second, "the monitor to end", func() bool { return syscall.Kill(pid, 0) != nil })
	if out, _ := exec.Command("grep", "-c", e.dir, "/proc/self/mountinfo").Output(); strings.TrimSpace(string(out)) != "0" {
		t.Errorf("mounts left under the test root: %s", out)
	}
}

// TestHandoverMonitorKilled: a kill -9 of the small monitor leaves a
// container that ps reports truthfully, and rm -f cleans it up.
func TestHandoverMonitorKilled(t *testing.T) {
	e, ref := handoverEnv(t)
	e.must("run", "-d", "--network", "none", "--name", "orphan", ref, "sleep", "3600")
	pid := e.handedOver("orphan")
	proc := e.psOne("orphan").State.Pid
	syscall.Kill(pid, syscall.SIGKILL)
	time.Sleep(200 * time.Millisecond)
	if got := e.psOne("orphan"); got.State.Status != "running" {
		t.Errorf("monitor gone but process alive: ps says %s", got.State.Status)
	}
	syscall.Kill(proc, syscall.SIGKILL)
	eventually(t, 5*time.Second, "ps to say exited", func() bool {
		return e.psOne("orphan").State.Status == "exited"
	})
	e.must("rm", "-f", "orphan")
	if len(e.ps()) != 0 {
		t.Error("rm -f left the container")
	}
}

// TestHandoverTerminal: a terminal container's small monitor applies a
// client's resize to the terminal and passes its input.
func TestHandoverTerminal(t *testing.T) {
	e, ref := handoverEnv(t)
	e.must("run", "-d", "-i", "-t", "--network", "none", "--name", "tty", ref, "sh")
	e.handedOver("tty")
	a := e.attach(e.psOne("tty").ID, engine.AttachHello{Stdin: true})
	a.send(engine.FrameResize, engine.ResizePayload(33, 77))
	a.send(engine.FrameStdin, []byte("busybox stty size; exit 5\n"))
	out, code := a.readUntil("33 77")
	if !strings.Contains(out, "33 77") {
		t.Fatalf("stty size after a resize: %q", out)
	}
	if code == -1 {
		_, code = a.readUntil("")
	}
	if code != 5 {
		t.Errorf("exit %d, want 5", code)
	}
	if p := e.psOne("tty"); p.State.Status != "exited" || p.State.ExitCode != 5 {
		t.Errorf("after the exit: %+v", p.State)
	}
}

// checkers lists the pids of the health checkers of container id.
func checkers(id string) []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil || !strings.Contains(string(b), "healthcheck\x00monitor\x00"+id) {
			continue
		}
		var pid int
		fmt.Sscanf(filepath.Base(filepath.Dir(d)), "%d", &pid)
		pids = append(pids, pid)
	}
	return pids
}

// TestHandoverHealthCheck: the health checker, a child of the monitor,
// keeps checking under the small monitor, and the monitor exec'd back
// stops it at the exit.
func TestHandoverHealthCheck(t *testing.T) {
	e, ref := handoverEnv(t)
	e.must("run", "-d", "--network", "none", "--name", "hc", "--health-cmd", "true", "--health-interval", "200ms", ref, "sleep", "3600")
	e.handedOver("hc")
	id := e.psOne("hc").ID
	if len(checkers(id)) != 1 {
		t.Fatalf("health checkers after the handover: %v", checkers(id))
	}
	eventually(t, 20*time.Second, "healthy", func() bool { return e.health("hc").Status == "healthy" })
	last := func() time.Time { l := e.health("hc").Log; return l[len(l)-1].End }
	seen := last()
	eventually(t, 20*time.Second, "another check", func() bool { return last().After(seen) })
	e.must("stop", "-t", "1", "hc")
	eventually(t, 5*time.Second, "the checker to be stopped", func() bool { return len(checkers(id)) == 0 })
}

// TestHandoverRemoveForce: rm -f of a running container whose monitor
// handed over removes it, and its monitor ends.
func TestHandoverRemoveForce(t *testing.T) {
	e, ref := handoverEnv(t)
	e.must("run", "-d", "--network", "none", "--name", "doomed", ref, "sleep", "3600")
	pid := e.handedOver("doomed")
	e.must("rm", "-f", "doomed")
	if len(e.ps()) != 0 {
		t.Error("rm -f left the container")
	}
	eventually(t, 5*time.Second, "the monitor to end", func() bool { return syscall.Kill(pid, 0) != nil })
	if out, _ := exec.Command("grep", "-c", e.dir, "/proc/self/mountinfo").Output(); strings.TrimSpace(string(out)) != "0" {
		t.Errorf("mounts left under the test root: %s", out)
	}
}

// TestHandoverWaitsForClients: a monitor with an attach client connected
// does not hand over; once the client leaves it does, and output keeps
// reaching the log.
func TestHandoverWaitsForClients(t *testing.T) {
	e, ref := handoverEnv(t)
	e.must("run", "-d", "-i", "--network", "none", "--name", "watched", ref, "cat")
	p := e.psOne("watched")
	a := e.attach(p.ID, engine.AttachHello{Stdin: true})
	a.send(engine.FrameStdin, []byte("one\n"))
	a.readUntil("one\n")
	time.Sleep(time.Second) // more than idle_after
	if exe := exeOf(p.State.MonitorPid); exe != fullMonitor {
		t.Fatalf("with a client attached the monitor runs %q, want %s", exe, fullMonitor)
	}
	a.conn.Close()
	e.handedOver("watched")
	b := e.attach(p.ID, engine.AttachHello{Stdin: true})
	b.send(engine.FrameStdin, []byte("two\n"))
	b.readUntil("two\n")
	b.send(engine.FrameStdinClose, nil)
	if _, code := b.readUntil(""); code != 0 {
		t.Errorf("exit %d", code)
	}
	if got := e.must("logs", "watched").stdout; got != "one\ntwo\n" {
		t.Errorf("log %q", got)
	}
}

// TestHandoverClosedStreams: a container that closed its stderr, and one
// whose input a client ended, still hand over, and their output after it
// is logged.
func TestHandoverClosedStreams(t *testing.T) {
	e, ref := handoverEnv(t)
	e.must("run", "-d", "--network", "none", "--name", "nostderr", ref, "sh", "-c", "exec 2>&-; sleep 1; echo still here; sleep 3600")
	e.handedOver("nostderr")
	eventually(t, 10*time.Second, "the line after the handover", func() bool {
		return e.must("logs", "nostderr").stdout == "still here\n"
	})

	e.must("run", "-d", "-i", "--network", "none", "--name", "noinput", ref, "sh", "-c", "cat; echo input ended; sleep 3600")
	p := e.psOne("noinput")
	a := e.attach(p.ID, engine.AttachHello{Stdin: true})
	a.send(engine.FrameStdin, []byte("x\n"))
	a.send(engine.FrameStdinClose, nil)
	a.readUntil("input ended\n")
	a.conn.Close()
	e.handedOver("noinput")
	e.must("stop", "-t", "1", "noinput")
	if got := e.must("logs", "noinput").stdout; got != "x\ninput ended\n" {
		t.Errorf("log %q", got)
	}
}

// TestHandoverPublishedPorts: a container with a port published on all
// addresses, whose [::1] forwarder runs in the monitor, hands over too:
// the small monitor serves the forwarder, not before an open connection
// through it has closed; a restart after the handover serves again, and
// after stop nothing listens on the port.
func TestHandoverPublishedPorts(t *testing.T) {
	need(t, "nft", "ip", "ss")
	e, ref := handoverEnv(t)
	// Long enough to open a connection through [::1] before it passes.
	if err := os.WriteFile(filepath.Join(e.dir, "stockade.toml"), []byte("[monitor]\nidle_after = \"1s\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, id := range strings.Fields(e.run("ps", "-a", "-q").stdout) {
			e.run("rm", "-f", id)
		}
		e.run("network", "rm", "hnet")
	})
	e.must("network", "create", "hnet")
	hp := freePort(t)
	v6 := fmt.Sprintf("[::1]:%d", hp)
	v4 := fmt.Sprintf("127.0.0.1:%d", hp)
	cmd := httpd("web")
	e.must("run", "-d", "--name", "web", "--network", "hnet", "-p", fmt.Sprintf("%d:80", hp), ref, cmd[0], cmd[1], cmd[2])
	waitGet(t, v4, "web") // through the kernel's DNAT: httpd is up

	// A request through the forwarder, left open: no handover meanwhile.
	conn, err := net.DialTimeout("tcp", v6, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET / HTTP/1.0\r\n")
	time.Sleep(2500 * time.Millisecond) // idle_after and a retry
	monitor := e.psOne("web").State.MonitorPid
	if exe := exeOf(monitor); exe != fullMonitor {
		t.Errorf("with a connection open through [::1] the monitor runs %q, want %s", exe, fullMonitor)
	}
	io.WriteString(conn, "\r\n")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := io.ReadAll(conn)
	if err != nil || !strings.HasSuffix(string(resp), "web\n") {
		t.Errorf("the open request through [::1] got %q, %v", resp, err)
	}
	conn.Close()

	if pid := e.handedOver("web"); pid != monitor {
		t.Errorf("monitor pid %d, then %d", monitor, pid)
	}
	for _, addr := range []string{v6, v4} {
		waitGet(t, addr, "web")
	}
	e.must("stop", "-t", "1", "web")
	wantClosed(t, hp)

	// on-failure: the first run serves, hands over and fails; the second,
	// started by the monitor exec'd back, serves on the same port.
	hp = freePort(t) // web's stays leased while it exists
	v6, v4 = fmt.Sprintf("[::1]:%d", hp), fmt.Sprintf("127.0.0.1:%d", hp)
	host := t.TempDir()
	e.must("run", "-d", "--name", "flaky", "--network", "hnet", "--restart", "on-failure:1", "-v", host+":/data",
		"-p", fmt.Sprintf("%d:80", hp), ref, "sh", "-c",
		"mkdir -p /www; if [ -e /data/ran ]; then echo second > /www/index.html; exec httpd -f -p 80 -h /www; fi; "+
			"touch /data/ran; echo first > /www/index.html; httpd -p 80 -h /www; sleep 4; exit 1")
	waitGet(t, v6, "first")
	e.handedOver("flaky")
	waitGet(t, v6, "first")
	eventually(t, 20*time.Second, "the restart", func() bool { return e.psOne("flaky").State.RestartCount == 1 })
	waitGet(t, v6, "second")
	waitGet(t, v4, "second")
	e.handedOver("flaky")
	waitGet(t, v6, "second")
	e.must("rm", "-f", "flaky")
	wantClosed(t, hp)
}

// wantClosed fails unless nothing listens on port, TCP or UDP, and a
// connection to [::1] and 127.0.0.1 on it is refused.
func wantClosed(t *testing.T, port int) {
	t.Helper()
	for _, addr := range []string{fmt.Sprintf("[::1]:%d", port), fmt.Sprintf("127.0.0.1:%d", port)} {
		if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
			c.Close()
			t.Errorf("%s accepts a connection after stop", addr)
		}
	}
	out, err := exec.Command("ss", "-Htuln", fmt.Sprintf("sport = :%d", port)).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("ss: listening on %d after stop: %q, %v", port, out, err)
	}
}

// childrenOf lists the pids of pid's children (every thread's).
func childrenOf(pid int) []int {
	var kids []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		data, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(data)) {
			var k int
			if _, err := fmt.Sscan(s, &k); err == nil {
				kids = append(kids, k)
			}
		}
	}
	return kids
}

// TestForegroundRunOutlivesItsClient: an attached run without a terminal
// has runc run in the foreground, a child of the monitor; when the
// client is killed, the monitor hands over and the small monitor waits
// for runc. The exit status runc passes on is recorded, the output is
// logged, and runc deleted the container itself: no state is left under
// its root.
func TestForegroundRunOutlivesItsClient(t *testing.T) {
	e, ref := handoverEnv(t)
	cmd := e.command(context.Background(), "run", "--network", "none", "--name", "fg", ref, "sh", "-c",
		"echo started; sleep 3; echo done; exit 5")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line := make([]byte, len("started\n"))
	if _, err := io.ReadFull(out, line); err != nil || string(line) != "started\n" {
		t.Fatalf("first output %q, %v", line, err)
	}
	mon := e.psOne("fg").State.MonitorPid
	runc := 0
	for _, k := range childrenOf(mon) {
		if exeOf(k) == "runc" {
			runc = k
		}
	}
	if runc == 0 {
		t.Fatalf("no runc among the children of the monitor %d: %v", mon, childrenOf(mon))
	}
	cmd.Process.Kill()
	cmd.Wait()
	e.handedOver("fg")
	if got := childrenOf(mon); len(got) != 1 || got[0] != runc {
		t.Errorf("the small monitor's children are %v, want runc %d", got, runc)
	}
	if got := e.must("wait", "fg").stdout; got != "5\n" {
		t.Errorf("wait printed %q, want 5", got)
	}
	if got := e.must("logs", "fg").stdout; got != "started\ndone\n" {
		t.Errorf("log %q", got)
	}
	left, _ := os.ReadDir(filepath.Join(e.state, "runc"))
	for _, d := range left {
		t.Errorf("runc state left: %s", d.Name())
	}
	e.must("rm", "fg")
}
