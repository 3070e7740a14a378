package jail

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fakeInit records the init helper's system calls and fails the one named
// by failOn.
type fakeInit struct {
	calls  []string
	failOn string
	readyM []byte
}

func (f *fakeInit) call(format string, a ...any) error {
	c := fmt.Sprintf(format, a...)
	f.calls = append(f.calls, c)
	if f.failOn != "" && strings.HasPrefix(c, f.failOn) {
		return syscall.EPERM
	}
	return nil
}

func (f *fakeInit) openFifo(path string) (int, error) { return 9, f.call("open_fifo %s", path) }
func (f *fakeInit) terminal(p *InitPlan) error {
	return f.call("terminal %s %dx%d", p.ConsoleSocket, p.ConsoleSize.Height, p.ConsoleSize.Width)
}
func (f *fakeInit) setsid() error                 { return f.call("setsid") }
func (f *fakeInit) closeFd(fd int)                { f.call("close %d", fd) }
func (f *fakeInit) jailAttach(jid int) error      { return f.call("jail_attach %d", jid) }
func (f *fakeInit) chdir(dir string) error        { return f.call("chdir %s", dir) }
func (f *fakeInit) setgroups(gids []uint32) error { return f.call("setgroups %v", gids) }
func (f *fakeInit) setgid(gid uint32) error       { return f.call("setgid %d", gid) }
func (f *fakeInit) setrlimit(rl Rlimit) error {
	return f.call("setrlimit %d %d %d", rl.Resource, rl.Soft, rl.Hard)
}
func (f *fakeInit) setuid(uid uint32) error { return f.call("setuid %d", uid) }
func (f *fakeInit) umask(mask uint32)       { f.call("umask %#o", mask) }
func (f *fakeInit) lookPath(arg0 string, env []string) (string, error) {
	return "/bin/" + arg0, f.call("lookpath %s", arg0)
}
func (f *fakeInit) ready(msg []byte) {
	f.readyM = msg
	f.call("ready")
}
func (f *fakeInit) waitFifo(fd int)        { f.call("wait_fifo %d", fd) }
func (f *fakeInit) closeOnExecFrom(fd int) { f.call("cloexec_from %d", fd) }
func (f *fakeInit) exec(path string, args, env []string) error {
	return f.call("exec %s %v %v", path, args, env)
}

func fullPlan(t *testing.T) *InitPlan {
	t.Helper()
	umask := uint32(0o27)
	p, err := NewInitPlan(&specs.Process{
		Args: []string{"sh", "-c", "id"}, Env: []string{"A=1"}, Cwd: "/srv",
		User:     specs.User{UID: 1001, GID: 1002, AdditionalGids: []uint32{5, 1002, 6}, Umask: &umask},
		Rlimits:  []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 100, Hard: 200}, {Type: "RLIMIT_CORE"}},
		Terminal: true, ConsoleSize: &specs.Box{Height: 33, Width: 99},
	}, 7, "/run/console.sock")
	if err != nil {
		t.Fatal(err)
	}
	p.Fifo = "/state/c1/exec.fifo"
	p.ExtraFiles = 2
	return p
}

// The helper's steps come in the order that keeps it safe: host paths
// before jail_attach, chdir inside the jail, groups and gid and rlimits
// while privileged, uid last, the program looked up as the user, ready,
// the wait for start, descriptors closed on exec, exec.
func TestRunInitOrder(t *testing.T) {
	f := &fakeInit{}
	code, err := runInit(f, fullPlan(t))
	if code != initExitExec || err == nil {
		// The fake's exec returns, as a failing one does.
		t.Fatalf("runInit = %d, %v", code, err)
	}
	want := []string{
		"open_fifo /state/c1/exec.fifo",
		"setsid",
		"terminal /run/console.sock 33x99",
		"jail_attach 7",
		"chdir /srv",
		"setgroups [1002 5 6]",
		"setgid 1002",
		"setrlimit 8 100 200",
		"setrlimit 4 0 0",
		"setuid 1001",
		"umask 027",
		"lookpath sh",
		"ready",
		"wait_fifo 9",
		"cloexec_from 5",
		"exec /bin/sh [sh -c id] [A=1]",
	}
	if !slices.Equal(f.calls, want) {
		t.Errorf("calls:\n  %s\nwant:\n  %s", strings.Join(f.calls, "\n  "), strings.Join(want, "\n  "))
	}
	if string(f.readyM) != "{}" {
		t.Errorf("ready message %s, want {}", f.readyM)
	}
}

// An exec (no fifo, no terminal, no umask) neither waits nor opens a
// terminal, but still leaves its caller's session first: without a
// terminal of its own, the process would otherwise share the session and
// process group of whoever ran the runtime, whose terminal jailed root
// could push input into (TIOCSTI) and whose ^C would reach it.
func TestRunInitExec(t *testing.T) {
	f := &fakeInit{}
	runInit(f, &InitPlan{JID: 3, Args: []string{"/bin/ls"}, Cwd: "/", Groups: []uint32{0}})
	want := []string{"setsid", "jail_attach 3", "chdir /", "setgroups [0]", "setgid 0", "setuid 0", "lookpath /bin/ls", "ready", "cloexec_from 3", "exec /bin//bin/ls [/bin/ls] []"}
	if !slices.Equal(f.calls, want) {
		t.Errorf("calls %q, want %q", f.calls, want)
	}
}

// A step that fails stops everything after it: the runtime is told why on
// the ready descriptor, the helper exits 126, and the program never runs.
func TestRunInitFailures(t *testing.T) {
	for _, step := range []string{"open_fifo", "setsid", "terminal", "jail_attach", "chdir", "setgroups", "setgid", "setrlimit", "setuid", "lookpath"} {
		t.Run(step, func(t *testing.T) {
			f := &fakeInit{failOn: step}
			code, err := runInit(f, fullPlan(t))
			if code != initExitPrepare || !errors.Is(err, syscall.EPERM) {
				t.Fatalf("runInit = %d, %v; want %d and EPERM", code, err, initExitPrepare)
			}
			i := slices.IndexFunc(f.calls, func(c string) bool { return strings.HasPrefix(c, step) })
			if i < 0 || f.calls[len(f.calls)-1] != "ready" || len(f.calls) != i+2 {
				t.Errorf("calls after the failure of %s: %q", step, f.calls)
			}
			var msg ReadyMessage
			if err := json.Unmarshal(f.readyM, &msg); err != nil || !strings.Contains(msg.Error, "operation not permitted") {
				t.Errorf("ready message %s (%v)", f.readyM, err)
			}
		})
	}
	f := &fakeInit{}
	if code, err := runInit(f, &InitPlan{JID: 0, Args: []string{"x"}, Cwd: "/"}); code != initExitPrepare || err == nil || len(f.calls) != 1 {
		t.Errorf("a plan without a jail: %d, %v, calls %q", code, err, f.calls)
	}
	f = &fakeInit{failOn: "exec"}
	if code, err := runInit(f, fullPlan(t)); code != initExitExec || !strings.Contains(fmt.Sprint(err), "exec sh: ") {
		t.Errorf("exec failure: %d, %v", code, err)
	}
}

// lookPath is execvp's search, run for real on files made here.
func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	mk := func(rel string, mode os.FileMode) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	exe := mk("a/prog", 0o755)
	mk("b/prog", 0o755)
	noexec := mk("c/prog", 0o644)
	mk("c/other", 0o644)
	if err := os.MkdirAll(filepath.Join(dir, "d/prog"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := func(dirs ...string) []string {
		for i, d := range dirs {
			if d != "" {
				dirs[i] = filepath.Join(dir, d)
			}
		}
		return []string{"HOME=/", "PATH=" + strings.Join(dirs, ":")}
	}
	for _, tc := range []struct {
		name, arg0 string
		env        []string
		want       string // a path, the error's text, or "" for any file named arg0 in defaultPath
		wantErr    bool
	}{
		{"first match wins", "prog", path("a", "b"), exe, false},
		{"a directory of that name is skipped", "prog", path("d", "a"), exe, false},
		{"a file that cannot be executed is skipped", "prog", path("c", "a"), exe, false},
		{"only files that cannot be executed", "other", path("c"), "permission denied", true},
		{"missing", "nope", path("a", "b"), "nope: executable file not found in $PATH", true},
		{"absolute", exe, nil, exe, false},
		{"absolute, not executable", noexec, nil, "permission denied", true},
		{"absolute, missing", filepath.Join(dir, "zz"), nil, "no such file or directory", true},
		{"no PATH: the default one", "sh", nil, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := lookPath(tc.arg0, tc.env)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("lookPath(%q) = %q, %v; want an error with %q", tc.arg0, got, err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("lookPath(%q): %v", tc.arg0, err)
			}
			if tc.want == "" {
				if !strings.HasSuffix(got, "/sh") || !slices.Contains(filepath.SplitList(defaultPath), filepath.Dir(got)) {
					t.Errorf("lookPath(sh) = %q, not in %s", got, defaultPath)
				}
				return
			}
			if got != tc.want {
				t.Errorf("lookPath(%q) = %q, want %q", tc.arg0, got, tc.want)
			}
		})
	}
	// An empty PATH entry is the current directory.
	t.Chdir(filepath.Join(dir, "a"))
	if got, err := lookPath("prog", []string{"PATH=/nonexistent::"}); err != nil || got != "./prog" {
		t.Errorf("empty PATH entry: %q, %v", got, err)
	}
}

// An exec in place (runj's exec, for its containerd shim) has no ready
// descriptor, and lets the container's lock go once it is in the jail.
func TestRunInitInPlace(t *testing.T) {
	f := &fakeInit{}
	p := &InitPlan{JID: 3, Args: []string{"/bin/ls"}, Cwd: "/", Groups: []uint32{0}, InPlace: true, LockFd: 9, ExtraFiles: 1}
	runInit(f, p)
	want := []string{"setsid", "jail_attach 3", "close 9", "chdir /", "setgroups [0]", "setgid 0", "setuid 0", "lookpath /bin/ls", "cloexec_from 4", "exec /bin//bin/ls [/bin/ls] []"}
	if !slices.Equal(f.calls, want) {
		t.Errorf("calls %q, want %q", f.calls, want)
	}
	f = &fakeInit{failOn: "jail_attach"}
	if code, err := runInit(f, p); code != initExitPrepare || err == nil || slices.Contains(f.calls, "ready") || slices.Contains(f.calls, "close 9") {
		t.Errorf("failed jail_attach in place: %d, %v, calls %q", code, err, f.calls)
	}
}

// fakeFds records markCloseOnExec's calls; closeRange fails with err.
type fakeFds struct {
	err   error
	calls []string
}

func (f *fakeFds) closeRangeCloexec(from int) error {
	f.calls = append(f.calls, fmt.Sprintf("close_range %d ~0 CLOEXEC", from))
	return f.err
}

func (f *fakeFds) setCloexec(fd int) error {
	f.calls = append(f.calls, fmt.Sprintf("cloexec %d", fd))
	return nil
}

// Descriptors are marked close-on-exec with one close_range(2), on every
// descriptor however high; a kernel without it (or without its
// CLOSE_RANGE_CLOEXEC flag) gets them marked one by one up to the
// descriptor limit, not up to a fixed 1024.
func TestMarkCloseOnExec(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		limit    int
		want     []string
		fellBack bool
	}{
		{"close_range", nil, 4096, []string{"close_range 5 ~0 CLOEXEC"}, false},
		{"kernel without CLOSE_RANGE_CLOEXEC", syscall.EINVAL, 8, []string{"close_range 5 ~0 CLOEXEC", "cloexec 5", "cloexec 6", "cloexec 7"}, true},
		{"kernel without close_range", syscall.ENOSYS, 7, []string{"close_range 5 ~0 CLOEXEC", "cloexec 5", "cloexec 6"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeFds{err: tc.err}
			if got := markCloseOnExec(f, 5, tc.limit); got != tc.fellBack {
				t.Errorf("fell back: %t, want %t", got, tc.fellBack)
			}
			if !slices.Equal(f.calls, tc.want) {
				t.Errorf("calls %q, want %q", f.calls, tc.want)
			}
		})
	}
	// The fallback reaches the limit, far above 1024.
	f := &fakeFds{err: syscall.EINVAL}
	markCloseOnExec(f, 3, 5000)
	if last := f.calls[len(f.calls)-1]; last != "cloexec 4999" {
		t.Errorf("last descriptor marked: %q, want cloexec 4999", last)
	}
}
