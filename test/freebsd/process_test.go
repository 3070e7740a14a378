//go:build freebsd

package freebsd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// settingsScript prints what settingsProcess sets, one line each.
const settingsScript = `id -u; id -g; id -G; pwd; umask; ulimit -n; echo "$FOO"`

// settingsProcess is a process with every setting the runtime applies:
// user, groups, working directory, umask, an rlimit and the environment.
func settingsProcess(script string) *specs.Process {
	umask := uint32(0o027)
	return &specs.Process{
		Args: []string{"/bin/sh", "-c", script},
		Cwd:  "/tmp",
		Env:  []string{"PATH=/bin:/usr/bin", "FOO=foo bar"},
		User: specs.User{
			UID:            65534,
			GID:            65534,
			AdditionalGids: []uint32{1001, 1002},
			Umask:          &umask,
		},
		Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 123, Hard: 123}},
	}
}

// checkSettings checks settingsScript's output.
func checkSettings(t *testing.T, out string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 7 {
		t.Fatalf("want 7 lines (uid, gid, groups, cwd, umask, nofile, FOO), got %q", out)
	}
	for i, c := range []struct {
		what string
		ok   func(string) bool
		want string
	}{
		{"id -u", equals("65534"), "65534"},
		{"id -g", equals("65534"), "65534"},
		{"id -G", sameSet("65534", "1001", "1002"), "65534 1001 1002 in any order"},
		{"pwd", equals("/tmp"), "/tmp"},
		{"umask", func(s string) bool { m, err := strconv.ParseUint(s, 8, 32); return err == nil && m == 0o027 }, "027"},
		{"ulimit -n", equals("123"), "123"},
		{"$FOO", equals("foo bar"), "foo bar"},
	} {
		if got := strings.TrimSpace(lines[i]); !c.ok(got) {
			t.Errorf("%s: %q, want %s", c.what, got, c.want)
		}
	}
}

func equals(want string) func(string) bool { return func(s string) bool { return s == want } }

func sameSet(want ...string) func(string) bool {
	return func(s string) bool {
		got := slices.Compact(slices.Sorted(slices.Values(strings.Fields(s))))
		return slices.Equal(got, slices.Sorted(slices.Values(want)))
	}
}

// TestExecProcessSettings runs exec --process with every process setting;
// a non-detached exec copies the process's output back.
func TestExecProcessSettings(t *testing.T) {
	e := setup(t)
	id := newID(t)
	e.create(t, id, e.bundle(t, nil))
	e.must(t, "start", id)
	r := e.execProcess(t, id, settingsProcess(settingsScript))
	if r.err != nil {
		t.Fatalf("%v", r)
	}
	checkSettings(t, r.stdout)
}

// TestContainerProcessSettings gives the container's own process every
// process setting. It writes what it sees to a writable nullfs mount and
// ends; the state must say stopped, from the kernel, once it has.
func TestContainerProcessSettings(t *testing.T) {
	e := setup(t)
	id := newID(t)
	out := t.TempDir()
	// Writable by the container's user (65534).
	if err := os.Chmod(out, 0o777); err != nil {
		t.Fatal(err)
	}
	e.create(t, id, e.bundle(t, func(s *specs.Spec) {
		s.Process = settingsProcess("exec >/out/result 2>&1; " + settingsScript)
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/out", Type: "nullfs", Source: out, Options: []string{"rw"}})
	}))
	e.must(t, "start", id)
	e.waitStatus(t, id, specs.StateStopped, 10*time.Second)
	data, err := os.ReadFile(filepath.Join(out, "result"))
	if err != nil {
		t.Fatalf("the container's output: %v", err)
	}
	checkSettings(t, string(data))
	fi, err := os.Stat(filepath.Join(out, "result"))
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Uid != 65534 || fi.Mode().Perm() != 0o640 {
		t.Errorf("result file: mode %v, owner %+v; want -rw-r----- (umask 027) owned by 65534", fi.Mode(), fi.Sys())
	}
}

// TestTerminal gives a process a pseudo-terminal of a set size: the
// runtime sends its master over --console-socket, as containerd's shims
// expect, and the process sees the terminal and its size.
func TestTerminal(t *testing.T) {
	e := setup(t)
	ttyProcess := func() *specs.Process {
		p := shProcess("tty; stty size")
		p.Terminal = true
		p.ConsoleSize = &specs.Box{Height: 33, Width: 99}
		return p
	}
	tests := []struct {
		name string
		// run starts the terminal's process with the console socket.
		run func(t *testing.T, id, socket string)
	}{
		{"container process", func(t *testing.T, id, socket string) {
			e.create(t, id, e.bundle(t, func(s *specs.Spec) { s.Process = ttyProcess() }), "--console-socket", socket)
		}},
		{"exec", func(t *testing.T, id, socket string) {
			e.create(t, id, e.bundle(t, nil))
			e.must(t, "start", id)
			if r := e.execProcess(t, id, ttyProcess(), "--detach", "--console-socket", socket); r.err != nil {
				t.Fatalf("%v", r)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := newID(t)
			socket, master := consoleSocket(t)
			tt.run(t, id, socket)
			m := master()
			if st := e.state(t, id); st.Status == specs.StateCreated {
				e.must(t, "start", id)
			}
			out := readTerminal(t, m, 30*time.Second)
			if !strings.Contains(out, "/dev/pts/") {
				t.Errorf("tty printed no /dev/pts/ name: %q", out)
			}
			if !strings.Contains(out, "33 99") {
				t.Errorf("stty size did not print 33 99: %q", out)
			}
		})
	}
}

// consoleSocket listens on a unix socket for a terminal master, as
// containerd's shim does, and returns its path and a function that waits
// for the master.
func consoleSocket(t *testing.T) (string, func() *os.File) {
	t.Helper()
	// Socket paths are short on FreeBSD (104 bytes); t.TempDir's can be long.
	dir, err := os.MkdirTemp("", "sock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "console")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	type received struct {
		f   *os.File
		err error
	}
	ch := make(chan received, 1)
	go func() {
		c, err := l.AcceptUnix()
		if err != nil {
			ch <- received{err: err}
			return
		}
		defer c.Close()
		f, err := receiveFD(c)
		ch <- received{f, err}
	}()
	return path, func() *os.File {
		t.Helper()
		select {
		case r := <-ch:
			if r.err != nil {
				t.Fatalf("console socket: %v", r.err)
			}
			t.Cleanup(func() { r.f.Close() })
			return r.f
		case <-time.After(30 * time.Second):
			t.Fatal("no terminal master arrived on the console socket")
			return nil
		}
	}
}

// receiveFD reads one message carrying one descriptor (SCM_RIGHTS) and
// returns it as a non-blocking file, so that reads can have a deadline.
func receiveFD(c *net.UnixConn) (*os.File, error) {
	if err := c.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return nil, err
	}
	buf := make([]byte, 512)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, fmt.Errorf("control message: %w", err)
	}
	var fds []int
	for i := range msgs {
		got, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			return nil, fmt.Errorf("control message: %w", err)
		}
		fds = append(fds, got...)
	}
	if len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("got %d descriptors with %q, want 1", len(fds), buf[:n])
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		return nil, err
	}
	return os.NewFile(uintptr(fds[0]), "terminal master "+string(buf[:n])), nil
}

// readTerminal reads the master until the terminal's last user closed it
// (end of file, or EIO) and returns what it read; it fails the test when
// that takes longer than timeout.
func readTerminal(t *testing.T, master *os.File, timeout time.Duration) string {
	t.Helper()
	if err := master.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		t.Fatalf("terminal master: %v", err)
	}
	var out bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := master.Read(buf)
		out.Write(buf[:n])
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, syscall.EIO):
			return out.String()
		case errors.Is(err, os.ErrDeadlineExceeded):
			t.Fatalf("terminal output did not end within %s; got %q", timeout, out.String())
		default:
			t.Fatalf("read the terminal master: %v (got %q)", err, out.String())
		}
	}
}
