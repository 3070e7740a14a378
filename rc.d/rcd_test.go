// Package rcd tests the FreeBSD rc.d script under a stand-in for
// /etc/rc.subr, run by dash (an ash like FreeBSD's sh).
//
// FreeBSD's rc system cannot run here, and rc.subr itself calls FreeBSD
// tools (sysctl, ps -o jid, limits, protect). The stand-in, testdata/rc.subr,
// is written from rc.subr(8) and implements what the script relies on
// with FreeBSD's meaning: load_rc_config reads an rc.conf; checkyesno; the
// fast, force, one and quiet prefixes; the known commands (start, stop,
// restart, rcvar, describe, extracommands, and extra_commands); the
// rcvar check that refuses a disabled service with "Cannot 'start'..."
// and exit status 0 (except for status, stop, rcvar, describe); the
// ${cmd}_cmd, _precmd and _postcmd hooks; restart as stop then start;
// rc_usage for an unknown command; wait_for_pids. Not covered: rcorder's
// reading of PROVIDE/REQUIRE/KEYWORD (checked as text here), daemon(8)
// (a fake records its arguments and runs the command), pid files written
// by anything but that fake, limits(1) and login classes.
package rcd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shell is the POSIX shell the script runs under: dash, the closest to
// FreeBSD's sh (both descend from ash); sh when dash is missing.
func shell(t *testing.T) string {
	if p, err := exec.LookPath("dash"); err == nil {
		return p
	}
	return "sh"
}

// rcEnv is one run of the script: its rc.conf, a fake stockade that logs
// its arguments, and a fake daemon(8).
type rcEnv struct {
	t      *testing.T
	dir    string
	script string
	calls  string
	conf   string
}

func newRCEnv(t *testing.T) *rcEnv {
	dir := t.TempDir()
	script, err := os.ReadFile("stockade")
	if err != nil {
		t.Fatal(err)
	}
	subr, err := filepath.Abs("testdata/rc.subr")
	if err != nil {
		t.Fatal(err)
	}
	patched := strings.Replace(string(script), ". /etc/rc.subr", ". "+subr, 1)
	if patched == string(script) {
		t.Fatal("the script does not source /etc/rc.subr")
	}
	e := &rcEnv{t: t, dir: dir, script: filepath.Join(dir, "stockade.rc"), calls: filepath.Join(dir, "calls"), conf: filepath.Join(dir, "rc.conf")}
	write := func(path, text string, mode os.FileMode) {
		if err := os.WriteFile(path, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(e.script, patched, 0o755)
	write(filepath.Join(dir, "stockade"), "#!/bin/sh\necho \"stockade $*\" >> "+e.calls+"\n[ \"$FAIL\" = \"$1\" ] && exit 3\nexit 0\n", 0o755)
	// daemon -f -r -P PIDFILE -t TITLE CMD...: logs, then runs a
	// long-lived process in the background whose pid it writes to PIDFILE,
	// as daemon(8)'s supervisor does.
	write(filepath.Join(dir, "daemon"), `#!/bin/sh
echo "daemon $*" >> `+e.calls+`
while getopts frP:t: o; do case $o in P) pidfile=$OPTARG;; esac; done
sleep 300 </dev/null >/dev/null 2>&1 &
echo $! > "$pidfile"
`, 0o755)
	write(e.conf, "", 0o644)
	return e
}

// run runs the script with arg and rc.conf lines; it returns the output,
// the exit status and the calls the fakes logged.
func (e *rcEnv) run(arg string, conf ...string) (string, int, []string) {
	e.t.Helper()
	os.Remove(e.calls)
	lines := append([]string{
		"stockade_command=" + filepath.Join(e.dir, "stockade"),
		"stockade_daemon=" + filepath.Join(e.dir, "daemon"),
		"stockade_service_pidfile=" + filepath.Join(e.dir, "service.pid"),
	}, conf...)
	if err := os.WriteFile(e.conf, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(shell(e.t), e.script, arg)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "RC_CONF=" + e.conf}
	for _, l := range conf {
		if v, ok := strings.CutPrefix(l, "FAIL="); ok {
			cmd.Env = append(cmd.Env, "FAIL="+v)
		}
	}
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	data, _ := os.ReadFile(e.calls)
	var calls []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if l != "" {
			calls = append(calls, strings.ReplaceAll(l, e.dir+"/", ""))
		}
	}
	return string(out), code, calls
}

func TestRCCommands(t *testing.T) {
	e := newRCEnv(t)
	tests := []struct {
		name      string
		arg       string
		conf      []string
		wantCalls []string
		wantCode  int
		wantOut   string
	}{
		{name: "start", arg: "start", conf: []string{"stockade_enable=YES"}, wantCalls: []string{"stockade boot --parallel 4"}, wantOut: "Starting stockade containers."},
		{name: "start with flags and parallel", arg: "start", conf: []string{"stockade_enable=yes", `stockade_flags="--root /z/st --config /z/st.toml"`, "stockade_parallel=8"},
			wantCalls: []string{"stockade --root /z/st --config /z/st.toml boot --parallel 8"}},
		{name: "stop", arg: "stop", conf: []string{"stockade_enable=YES"}, wantCalls: []string{"stockade shutdown --parallel 4 --time 10"}},
		{name: "stop with timeout", arg: "stop", conf: []string{"stockade_enable=YES", "stockade_stop_timeout=30", "stockade_parallel=2"},
			wantCalls: []string{"stockade shutdown --parallel 2 --time 30"}},
		// rc.shutdown runs faststop on every script with KEYWORD: shutdown.
		{name: "faststop", arg: "faststop", conf: []string{"stockade_enable=YES"}, wantCalls: []string{"stockade shutdown --parallel 4 --time 10"}},
		{name: "restart", arg: "restart", conf: []string{"stockade_enable=YES"},
			wantCalls: []string{"stockade shutdown --parallel 4 --time 10", "stockade boot --parallel 4"}},
		{name: "status", arg: "status", conf: []string{"stockade_enable=YES"}, wantCalls: []string{"stockade ps"}},
		{name: "list", arg: "list", conf: []string{"stockade_enable=YES"}, wantCalls: []string{"stockade ps -a"}},
		// A disabled service: rc.subr says why and succeeds without running anything.
		{name: "start disabled", arg: "start", conf: []string{"stockade_enable=NO"}, wantOut: "Cannot 'start' stockade. Set stockade_enable to YES in /etc/rc.conf or use 'onestart' instead of 'start'."},
		{name: "start unset", arg: "start", wantOut: "Cannot 'start' stockade."},
		{name: "quietstart disabled", arg: "quietstart"},
		{name: "onestart disabled", arg: "onestart", conf: []string{"stockade_enable=NO"}, wantCalls: []string{"stockade boot --parallel 4"}},
		{name: "onestop disabled", arg: "onestop", wantCalls: []string{"stockade shutdown --parallel 4 --time 10"}},
		{name: "a failed boot fails start", arg: "start", conf: []string{"stockade_enable=YES", "FAIL=boot"}, wantCalls: []string{"stockade boot --parallel 4"}, wantCode: 1},
		{name: "unknown command", arg: "frobnicate", conf: []string{"stockade_enable=YES"}, wantCode: 1, wantOut: "unknown directive 'frobnicate'"},
		{name: "rcvar", arg: "rcvar", wantOut: "stockade_enable=\"NO\""},
		{name: "extracommands", arg: "extracommands", wantOut: "status list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code, calls := e.run(tt.arg, tt.conf...)
			if code != tt.wantCode {
				t.Errorf("exit status %d, want %d: %s", code, tt.wantCode, out)
			}
			if strings.Join(calls, "\n") != strings.Join(tt.wantCalls, "\n") {
				t.Errorf("calls %q, want %q", calls, tt.wantCalls)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("output %q lacks %q", out, tt.wantOut)
			}
		})
	}
}

// TestRCService: with stockade_service_enable, start runs `stockade
// system service` under daemon(8) before the containers boot, a second
// start leaves the running one alone, status names its pid, and stop
// shuts the containers down first and then ends the service's process.
func TestRCService(t *testing.T) {
	e := newRCEnv(t)
	conf := []string{"stockade_enable=YES", "stockade_service_enable=YES", `stockade_flags="--root /z"`}
	_, code, calls := e.run("start", conf...)
	pidfile := filepath.Join(e.dir, "service.pid")
	want := []string{"daemon -f -r -P " + pidfile + " -t stockade service stockade --root /z system service", "stockade --root /z boot --parallel 4"}
	want[0] = strings.ReplaceAll(want[0], e.dir+"/", "")
	if code != 0 || strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Fatalf("start: status %d, calls %q, want %q", code, calls, want)
	}
	data, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("the service's process %d: %v", pid, err)
	}
	if _, _, calls := e.run("start", conf...); len(calls) != 1 || !strings.Contains(calls[0], " boot ") {
		t.Errorf("second start: calls %q, want only boot", calls)
	}
	if out, _, _ := e.run("status", conf...); !strings.Contains(out, "stockade service is running as pid "+strconv.Itoa(pid)) {
		t.Errorf("status: %q", out)
	}
	out, code, calls := e.run("stop", conf...)
	if code != 0 || len(calls) != 1 || !strings.Contains(calls[0], "shutdown") || !strings.Contains(out, "Stopping stockade service.") {
		t.Errorf("stop: status %d, calls %q: %s", code, calls, out)
	}
	// The fake daemon's process was our shell's child's child: gone, or
	// a zombie of init, once killed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(st), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service's process %d still runs after stop", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRCHeader(t *testing.T) {
	script, err := os.ReadFile("stockade")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# PROVIDE: stockade\n", "# REQUIRE: FILESYSTEMS NETWORKING zfs pf\n", "# KEYWORD: shutdown\n",
		`rcvar="stockade_enable"`, "load_rc_config \"$name\"", "run_rc_command \"$1\"",
		"stockade_parallel", "stockade_stop_timeout", "stockade_service_enable", "stockade_flags",
	} {
		if !strings.Contains(string(script), want) {
			t.Errorf("rc.d/stockade lacks %q", want)
		}
	}
	for _, sh := range []string{"sh", "dash", "bash"} {
		if _, err := exec.LookPath(sh); err != nil {
			continue
		}
		args := []string{"-n", "stockade"}
		if sh == "bash" {
			args = []string{"--posix", "-n", "stockade"}
		}
		if out, err := exec.Command(sh, args...).CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v %s", sh, err, out)
		}
	}
}
