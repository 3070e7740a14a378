package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stockade/stockade/internal/monitorio"
)

// The test binary plays the three parts of a handover, chosen by its
// environment: the full monitor (testRoleEnv=full: it starts a "container"
// as its child and execs itself as the small monitor), the small monitor
// (STOCKADE_HANDOVER set: main), and the full monitor exec'd back
// (STOCKADE_RESUME set: it writes what it received for the test to read).
const (
	testRoleEnv = "STOCKADE_MONITOR_TEST_ROLE"
	testDirEnv  = "STOCKADE_MONITOR_TEST_DIR"
)

func TestMain(m *testing.M) {
	switch {
	case os.Getenv(monitorio.HandoverEnv) != "":
		main()
	case os.Getenv(monitorio.ResumeEnv) != "":
		os.Exit(resumed())
	case len(os.Args) > 1 && os.Args[1] == sleepFlag:
		main()
	case os.Getenv(testRoleEnv) == "full":
		err := fullMonitor()
		fmt.Fprintln(os.Stderr, "full monitor:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// fullMonitor starts the container, a shell that writes to both streams
// and exits 7, and hands over to the small monitor as the engine does.
func fullMonitor() error {
	dir := os.Getenv(testDirEnv)
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return err
	}
	child := exec.Command("/bin/sh", "-c", "echo one; echo two >&2; sleep 0.5; printf 'three\\npartial'; exit 7")
	child.Stdout, child.Stderr = outW, errW
	if err := child.Start(); err != nil {
		return err
	}
	outW.Close()
	errW.Close()
	ln, err := net.Listen("unix", filepath.Join(dir, "attach.sock"))
	if err != nil {
		return err
	}
	lock, err := os.Create(filepath.Join(dir, "monitor.lock"))
	if err != nil {
		return err
	}
	h := monitorio.Handover{
		ID: "test", Pid: child.Process.Pid, Terminal: -1, Stdin: -1,
		Log:    monitorio.LogConfig{Path: filepath.Join(dir, "test-json.log"), MaxSize: 1 << 20, MaxFiles: 2},
		Resume: []string{os.Args[0]}, Restarts: 1, RunStarted: time.Unix(1700000000, 0).UTC(),
	}
	for _, p := range []struct {
		fd *int
		c  syscall.Conn
	}{{&h.Lock, lock}, {&h.Listener, ln.(*net.UnixListener)}, {&h.Stdout, outR}, {&h.Stderr, errR}} {
		if *p.fd, err = monitorio.DupFD(p.c); err != nil {
			return err
		}
	}
	desc, err := h.Encode()
	if err != nil {
		return err
	}
	env := monitorio.WithEnv(os.Environ(), monitorio.HandoverEnv, desc, testRoleEnv)
	return syscall.Exec(os.Args[0], []string{os.Args[0], "test"}, env)
}

// resumed records the Resume it got, and whether its descriptors are open.
func resumed() int {
	r, err := monitorio.DecodeResume(os.Getenv(monitorio.ResumeEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var st syscall.Stat_t
	open := map[string]bool{
		"lock":     syscall.Fstat(r.Lock, &st) == nil,
		"listener": syscall.Fstat(r.Listener, &st) == nil,
	}
	b, _ := json.Marshal(map[string]any{"resume": r, "open": open})
	if err := os.WriteFile(filepath.Join(os.Getenv(testDirEnv), "resume.json"), b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestHandoverAndBack runs a whole handover without a container runtime:
// the small monitor logs both streams (a partial last line as its own
// entry), serves an attach client, waits for the exit and execs the full
// monitor back with the exit code, the lock, the listener, the client and
// the restart loop's state.
func TestHandoverAndBack(t *testing.T) {
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), testRoleEnv+"=full", testDirEnv+"="+dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// An attach client of the small monitor, which the full one gets back.
	var conn net.Conn
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if conn, err = net.Dial("unix", filepath.Join(dir, "attach.sock")); err == nil {
			break
		}
	}
	if conn == nil {
		t.Fatalf("no attach socket: %v", err)
	}
	defer conn.Close()
	if err := monitorio.WriteFrame(conn, monitorio.FrameHello, []byte(`{"stdin":true}`)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the monitor process: %v\n%s", err, stderr.String())
	}

	var got struct {
		Resume monitorio.Resume `json:"resume"`
		Open   map[string]bool  `json:"open"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "resume.json"))
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	r := got.Resume
	if r.ID != "test" || r.ExitCode != 7 || r.Restarts != 1 || !r.RunStarted.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("resume %+v", r)
	}
	if !got.Open["lock"] || !got.Open["listener"] {
		t.Errorf("descriptors open after the exec back: %v", got.Open)
	}
	if len(r.Clients) != 1 || r.Clients[0].Hello == nil || !r.Clients[0].Hello.Stdin {
		t.Errorf("clients %+v", r.Clients)
	}

	var entries []string
	if err := monitorio.ReadLog(context.Background(), filepath.Join(dir, "test-json.log"), monitorio.LogOptions{Tail: -1}, func(e monitorio.LogEntry) error {
		entries = append(entries, e.Stream+":"+e.Log)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The two streams are logged by two pumps: order between them is not
	// kept, order within each is.
	sort.SliceStable(entries, func(i, j int) bool { return entries[i][:6] < entries[j][:6] })
	want := []string{"stderr:two\n", "stdout:one\n", "stdout:three\n", "stdout:partial"}
	if strings.Join(entries, "|") != strings.Join(want, "|") {
		t.Errorf("log entries %q, want %q", entries, want)
	}
}

// TestSleepThenExec: the sleeper waits its duration and then becomes the
// command, in the same process (the command sees the sleeper's pid as its
// own); a bad command line is exit 2 and one line on stderr.
func TestSleepThenExec(t *testing.T) {
	out := filepath.Join(t.TempDir(), "pid")
	cmd := exec.Command(os.Args[0], sleepFlag, "300ms", "--", "/bin/sh", "-c", "echo $$ > "+out)
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("it slept %v, want >= 300ms", took)
	}
	data, err := os.ReadFile(out)
	if err != nil || strings.TrimSpace(string(data)) != fmt.Sprint(cmd.Process.Pid) {
		t.Errorf("the command ran as pid %q (%v), want the sleeper's %d", data, err, cmd.Process.Pid)
	}
	for _, args := range [][]string{
		{"5s"},
		{"5s", "/bin/true"},
		{"soon", "--", "/bin/true"},
		{"-1s", "--", "/bin/true"},
	} {
		var stderr strings.Builder
		if code := sleepThenExec(args, &stderr); code != 2 || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q", args, code, stderr.String())
		}
	}
}
