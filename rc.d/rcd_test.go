// Package rcd tests the FreeBSD rc.d script against a stand-in for
// /etc/rc.subr that records what the script asks of stockade. FreeBSD's
// rc system cannot run here; the stand-in implements the few rc.subr
// functions the script uses, with their FreeBSD meaning.
package rcd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// rcSubr is a minimal rc.subr: load_rc_config is a no-op (the test sets
// variables in the environment), run_rc_command honours rcvar and the
// *_cmd variables as FreeBSD's does for start, stop and status.
const rcSubr = `
checkyesno() {
	eval _v=\$$1
	case "$_v" in [Yy][Ee][Ss]|[Tt][Rr][Uu][Ee]|[Oo][Nn]|1) return 0;; *) return 1;; esac
}
load_rc_config() { :; }
run_rc_command() {
	if ! checkyesno "$rcvar"; then
		echo "Cannot '$1' $name. Set $rcvar to YES in /etc/rc.conf or use 'one$1' instead of '$1'."
		return 1
	fi
	case "$1" in
	start) eval "\$start_cmd" ;;
	stop) eval "\$stop_cmd" ;;
	status) eval "\$status_cmd" ;;
	*) echo "unknown command $1"; return 1 ;;
	esac
}
`

func TestRCScript(t *testing.T) {
	dir := t.TempDir()
	script, err := os.ReadFile("stockade")
	if err != nil {
		t.Fatal(err)
	}
	subr := filepath.Join(dir, "rc.subr")
	if err := os.WriteFile(subr, []byte(rcSubr), 0o644); err != nil {
		t.Fatal(err)
	}
	patched := strings.Replace(string(script), ". /etc/rc.subr", ". "+subr, 1)
	if patched == string(script) {
		t.Fatal("the script does not source /etc/rc.subr")
	}
	rc := filepath.Join(dir, "stockade.rc")
	if err := os.WriteFile(rc, []byte(patched), 0o755); err != nil {
		t.Fatal(err)
	}
	calls := filepath.Join(dir, "calls")
	fake := filepath.Join(dir, "fake-stockade")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho \"$*\" >> "+calls+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		arg, enable, flags, timeout string
		wantCall                    string
		wantFail                    bool
	}{
		{"start", "YES", "", "", "boot", false},
		{"stop", "YES", "", "", "shutdown --time 10", false},
		{"stop", "YES", "--root /z/st", "30", "--root /z/st shutdown --time 30", false},
		{"status", "YES", "", "", "ps", false},
		{"start", "NO", "", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.arg+"_"+tt.enable, func(t *testing.T) {
			os.Remove(calls)
			cmd := exec.Command("sh", rc, tt.arg)
			cmd.Env = []string{"PATH=/usr/bin:/bin", "stockade_enable=" + tt.enable, "stockade_command=" + fake, "stockade_flags=" + tt.flags}
			if tt.timeout != "" {
				cmd.Env = append(cmd.Env, "stockade_stop_timeout="+tt.timeout)
			}
			out, err := cmd.CombinedOutput()
			if (err != nil) != tt.wantFail {
				t.Fatalf("err %v, want failure %t: %s", err, tt.wantFail, out)
			}
			got, _ := os.ReadFile(calls)
			if strings.TrimSpace(string(got)) != tt.wantCall {
				t.Errorf("stockade called with %q, want %q", strings.TrimSpace(string(got)), tt.wantCall)
			}
		})
	}
}

func TestRCHeader(t *testing.T) {
	script, err := os.ReadFile("stockade")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# PROVIDE: stockade", "# KEYWORD: shutdown", `rcvar="stockade_enable"`, "run_rc_command \"$1\""} {
		if !strings.Contains(string(script), want) {
			t.Errorf("rc.d/stockade lacks %q", want)
		}
	}
	if out, err := exec.Command("sh", "-n", "stockade").CombinedOutput(); err != nil {
		t.Errorf("sh -n: %v %s", err, out)
	}
}
