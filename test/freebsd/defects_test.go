//go:build freebsd

package freebsd

// The cases of issue 15: each would fail on a real host with the jail
// runtime as it was before the issue was fixed.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestReadOnlyRootMountPoints: with root.readonly, mounts on points the
// image lacks (a directory, a file in a missing directory) and on a file
// it has are made; the root is read-only in the jail. Before: mkdir and
// open(O_WRONLY) through the read-only nullfs failed with EROFS.
func TestReadOnlyRootMountPoints(t *testing.T) {
	e := setup(t)
	id := newID(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "hosts"), []byte("127.0.0.1 it-ro\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	newDir, newFile := "/"+id+"-dir", "/"+id+"-missing/hosts"
	// The mount points are made in the shared root file system; remove
	// them once the container is gone.
	t.Cleanup(func() {
		os.Remove(filepath.Join(e.rootfs, newDir))
		os.RemoveAll(filepath.Join(e.rootfs, filepath.Dir(newFile)))
	})
	e.create(t, id, e.bundle(t, func(s *specs.Spec) {
		s.Root.Readonly = true
		s.Process = shProcess("sleep 60")
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: newDir, Type: "nullfs", Source: src, Options: []string{"ro"}},
			specs.Mount{Destination: newFile, Type: "nullfs", Source: filepath.Join(src, "hosts"), Options: []string{"ro"}},
			specs.Mount{Destination: "/etc/hosts", Type: "nullfs", Source: filepath.Join(src, "hosts"), Options: []string{"ro"}},
		)
	}))
	e.must(t, "start", id)
	if out := e.exec(t, id, "/bin/cat", "/etc/hosts", newFile, newDir+"/hosts"); strings.Count(out, "it-ro") != 3 {
		t.Errorf("the file mounts show %q", out)
	}
	if r := e.run(t, "exec", id, "/usr/bin/touch", "/it-ro-probe"); r.err == nil {
		t.Errorf("the read-only root is writable:\n%v", r)
	}
	e.must(t, "delete", "--force", id)
	e.assertGone(t, id)
}

// TestLivenessFromTheJail: the container's pid replaced, in its state, by
// a host process's (as when the system reuses a dead container's pid):
// the container reads as stopped and kill signals nothing; and ps(1) not
// being in PATH changes nothing. Before: kill(pid, 0) and ps said running,
// and kill signalled the host process.
func TestLivenessFromTheJail(t *testing.T) {
	e := setup(t)
	id := newID(t)
	e.create(t, id, e.bundle(t, nil))
	e.must(t, "start", id)
	// Without PATH (no ps to find), a running container is running.
	r := command(t, "env", "-i", e.bin, "--root", e.root, "state", id)
	if r.err != nil || !strings.Contains(r.stdout, `"status": "running"`) {
		t.Errorf("state without PATH:\n%v", r)
	}
	victim := exec.Command("/bin/sleep", "60")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { victim.Process.Kill(); victim.Wait() })
	st := e.state(t, id)
	e.must(t, "kill", id, "KILL")
	e.waitStatus(t, id, specs.StateStopped, 10*time.Second)
	// The jail is still there (not deleted); its process is gone, and its
	// pid is now a host process's.
	file := filepath.Join(e.root, id, "state.json")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	forged := regexp.MustCompile(`"pid": *`+strconv.Itoa(st.Pid)+`\b`).ReplaceAll(data, []byte(`"pid": `+strconv.Itoa(victim.Process.Pid)))
	if err := os.WriteFile(file, forged, 0o600); err != nil {
		t.Fatal(err)
	}
	if st := e.state(t, id); st.Status != specs.StateStopped {
		t.Errorf("a host process's pid makes the container %s", st.Status)
	}
	if r := e.run(t, "kill", id, "KILL"); r.err == nil {
		t.Errorf("kill of a stopped container worked:\n%v", r)
	}
	e.must(t, "delete", "--force", id)
	if err := victim.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the host process was signalled: %v", err)
	}
}

// TestExecPidIsTheProcess: `exec` run as runj's shim runs it (a child, not
// a process group leader): its pid is the program's, in the jail, and a
// `kill --pid` TERM to it ends the program, whose status exec's process
// exits with. Before: the pid was a wrapper that ignored TERM, and KILL
// left the program running.
func TestExecPidIsTheProcess(t *testing.T) {
	e := setup(t)
	id := newID(t)
	e.create(t, id, e.bundle(t, nil))
	e.must(t, "start", id)
	jid := e.jid(t, id)
	data := `{"args":["/bin/sh","-c","exec /bin/sleep 60"],"cwd":"/","env":["PATH=/bin:/usr/bin"]}`
	file := filepath.Join(t.TempDir(), "process.json")
	if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, "--root", e.root, "extension", "exec", id, "--process", file)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	eventually(t, 10*time.Second, "the exec's pid runs sleep in the jail", func() (bool, string) {
		r := command(t, "ps", "-o", "jid=,comm=", "-p", strconv.Itoa(pid))
		f := strings.Fields(r.stdout)
		return len(f) == 2 && f[0] == strconv.Itoa(jid) && f[1] == "sleep", r.String()
	})
	e.must(t, "kill", id, "TERM", "--pid", strconv.Itoa(pid))
	err := cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("exec ended with %v, want killed by SIGTERM", err)
	}
	// A pid outside the jail is refused.
	if r := e.run(t, "kill", id, "TERM", "--pid", strconv.Itoa(os.Getpid())); r.err == nil {
		t.Errorf("kill --pid of the test's own pid worked:\n%v", r)
	}
}

// TestSessionOfItsOwn: the container's process and an exec's lead a
// session of their own, without a controlling terminal: not the session
// of whoever ran the runtime, whose terminal jailed root could push input
// into (TIOCSTI) and whose ^C would reach it.
func TestSessionOfItsOwn(t *testing.T) {
	e := setup(t)
	id := newID(t)
	e.create(t, id, e.bundle(t, nil))
	e.must(t, "start", id)
	out := e.exec(t, id, "/bin/sh", "-c", "ps -o pid=,sid=,pgid=,tt= -p $$")
	f := strings.Fields(out)
	if len(f) != 4 || f[0] != f[1] || f[0] != f[2] || f[3] != "-" {
		t.Errorf("exec: pid, sid, pgid, tty = %q; want pid = sid = pgid and no terminal", out)
	}
	st := e.state(t, id)
	out = host(t, "ps", "-o", "sid=,pgid=", "-p", strconv.Itoa(st.Pid))
	f = strings.Fields(out)
	if len(f) != 2 || f[0] != strconv.Itoa(st.Pid) || f[1] != strconv.Itoa(st.Pid) {
		t.Errorf("container process %d: sid, pgid = %q; want its own", st.Pid, out)
	}
	if sid, _ := unix.Getsid(0); strconv.Itoa(sid) == f[0] {
		t.Errorf("the container's process is in the test's session %d", sid)
	}
}

// TestDeleteDyingJail: a read-only root container whose jail keeps a TCP
// socket in TIME_WAIT (it closed a connection to a server on 127.0.0.1
// first) stays dying after jail_remove; delete waits for it, then forces
// the unmount, and leaves nothing. Before: unmount failed with EBUSY and
// the state stayed.
func TestDeleteDyingJail(t *testing.T) {
	e := setup(t)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				bufio.NewReader(c).ReadString('\n')
				// Wait for the jail's FIN, so that the jail's side is the
				// one left in TIME_WAIT.
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				c.Read(make([]byte, 1))
			}()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	id := newID(t)
	e.create(t, id, e.bundle(t, func(s *specs.Spec) {
		s.Root.Readonly = true
		s.Process = shProcess(fmt.Sprintf("echo hi | nc -N 127.0.0.1 %d; sleep 60", port))
	}))
	e.must(t, "start", id)
	jid := e.jid(t, id)
	eventually(t, 10*time.Second, "the jail's connection in TIME_WAIT", func() (bool, string) {
		out := host(t, "netstat", "-an", "-p", "tcp")
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) >= 6 && f[4] == fmt.Sprintf("127.0.0.1.%d", port) && f[5] == "TIME_WAIT" {
				return true, line
			}
		}
		return false, out
	})
	if r := command(t, "jls", "-j", strconv.Itoa(jid)); r.err != nil {
		t.Fatalf("jail %d: %v", jid, r)
	}
	start := time.Now()
	e.must(t, "delete", "--force", id)
	t.Logf("delete took %s", time.Since(start))
	e.assertGone(t, id)
}

// TestDeleteAfterJailGone: once the jail is gone, ifconfig's undo steps
// fail (the interface came back with the vnet, the address went); they
// count as done and delete finishes. Before: every delete failed.
func TestDeleteAfterJailGone(t *testing.T) {
	e := setup(t)
	t.Run("vnet", func(t *testing.T) {
		r := command(t, "ifconfig", "epair", "create")
		if r.err != nil {
			t.Skipf("no epair (kldload if_epair): %v", r)
		}
		a := strings.TrimSpace(r.stdout)
		bside := strings.TrimSuffix(a, "a") + "b"
		t.Cleanup(func() { command(t, "ifconfig", a, "destroy") })
		id := newID(t)
		e.create(t, id, e.bundle(t, func(s *specs.Spec) {
			s.FreeBSD.Jail.Ip4, s.FreeBSD.Jail.Ip6 = "", ""
			s.FreeBSD.Jail.Vnet = "new"
			s.FreeBSD.Jail.VnetInterfaces = []string{bside}
		}))
		host(t, "jail", "-r", strconv.Itoa(e.jid(t, id)))
		e.must(t, "delete", "--force", id)
		e.assertGone(t, id)
	})
	t.Run("alias", func(t *testing.T) {
		const addr = "127.0.113.15"
		id := newID(t)
		e.create(t, id, e.bundle(t, func(s *specs.Spec) {
			s.FreeBSD.Jail.Ip4 = ""
			s.FreeBSD.Jail.Ip4Addr = []string{addr}
			s.FreeBSD.Jail.Interface = "lo0"
		}))
		host(t, "ifconfig", "lo0", "inet", addr, "-alias")
		e.must(t, "delete", "--force", id)
		e.assertGone(t, id)
	})
}

// TestKillAllAfterMainExit: the container's process exits leaving two
// background processes in the jail; the container reads as running and
// `kill --all KILL` (what runj's shim sends then) empties the jail.
// Before: stopped, and kill --all was refused.
func TestKillAllAfterMainExit(t *testing.T) {
	e := setup(t)
	id := newID(t)
	e.create(t, id, e.bundle(t, func(s *specs.Spec) {
		s.Process = shProcess("sleep 300 & sleep 300 & exit 0")
	}))
	e.must(t, "start", id)
	jid := e.jid(t, id)
	eventually(t, 10*time.Second, "two sleeps left in the jail", func() (bool, string) {
		ps := jailProcesses(t, jid)
		return len(ps) == 2, fmt.Sprint(ps)
	})
	if st := e.state(t, id); st.Status != specs.StateRunning {
		t.Errorf("with processes left in the jail: %+v, want running", st)
	}
	e.must(t, "kill", "--all", id, "KILL")
	e.waitStatus(t, id, specs.StateStopped, 10*time.Second)
	if ps := jailProcesses(t, jid); len(ps) != 0 {
		t.Errorf("processes left: %v", ps)
	}
	e.must(t, "delete", id)
	e.assertGone(t, id)
}

// TestRunjExtensionFile: runj.ext.json in the bundle (where runj's shim
// puts ctr's --runtime-config-path) gives the jail its vnet; a field
// outside runj's schema is refused and nothing is made. Before: the file
// was ignored.
func TestRunjExtensionFile(t *testing.T) {
	e := setup(t)
	id := newID(t)
	b := e.bundle(t, func(s *specs.Spec) { s.FreeBSD.Jail.Ip4, s.FreeBSD.Jail.Ip6 = "", "" })
	if err := os.WriteFile(filepath.Join(b, "runj.ext.json"), []byte(`{"network":{"vnet":{"mode":"new"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	e.create(t, id, b)
	if got := jailParams(t, id, "vnet"); len(got) != 1 || got[0] != "vnet=new" {
		t.Errorf("jls -n vnet: %v, want vnet=new", got)
	}
	e.must(t, "delete", "--force", id)
	e.assertGone(t, id)

	if err := os.WriteFile(filepath.Join(b, "runj.ext.json"), []byte(`{"network":{"ipv6":{"mode":"new"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := e.run(t, "create", "--bundle", b, id)
	if r.err == nil || !strings.Contains(r.stderr, `unknown field "ipv6"`) {
		t.Errorf("an ipv6 section:\n%v", r)
	}
	e.assertGone(t, id)
}

// TestCloseOnExecHighDescriptor: a descriptor far above 1024 that the
// runtime inherits does not reach the exec's program (close_range(2)).
// Before: only descriptors below 1024 were marked close-on-exec.
func TestCloseOnExecHighDescriptor(t *testing.T) {
	e := setup(t)
	id := newID(t)
	e.create(t, id, e.bundle(t, nil))
	e.must(t, "start", id)
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const high = 3000
	if err := unix.Dup2(int(f.Fd()), high); err != nil { // without close-on-exec
		t.Skipf("dup2 to %d: %v (RLIMIT_NOFILE?)", high, err)
	}
	defer unix.Close(high)
	out := e.exec(t, id, "/bin/ls", "/dev/fd")
	for _, fd := range strings.Fields(out) {
		if n, err := strconv.Atoi(fd); err == nil && n > 2 && n != 3 {
			// 3 is ls's own directory descriptor.
			t.Errorf("descriptor %d reached the program: /dev/fd lists %q", n, out)
		}
	}
}

// TestTmpfsLinuxOptions: a Linux-only tmpfs option is refused with one
// line naming it, and nothing is made. Before: nmount failed with EINVAL.
func TestTmpfsLinuxOptions(t *testing.T) {
	e := setup(t)
	id := newID(t)
	b := e.bundle(t, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nr_inodes=100"}})
	})
	r := e.run(t, "create", "--bundle", b, id)
	if r.err == nil || !strings.Contains(r.stderr, `"nr_inodes=100" is Linux-only`) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("want one line naming nr_inodes:\n%v", r)
	}
	e.assertGone(t, id)
	var exit *exec.ExitError
	if !errors.As(r.err, &exit) {
		t.Errorf("create did not exit non-zero: %v", r.err)
	}
}
