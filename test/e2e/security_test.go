package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The security tests read what the kernel says of a container's first
// process: /proc/self/status's Seccomp, NoNewPrivs and CapEff lines.

// securityNeedsRoot fails under CI and skips elsewhere when not root:
// containers need root here.
func securityNeedsRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("the security tests run containers and need root")
		}
		t.Skip("needs root")
	}
}

// secEnv is an env with the busybox image pulled.
func secEnv(t *testing.T) (*env, string) {
	t.Helper()
	securityNeedsRoot(t)
	reg := startRegistry(t)
	ref := busyboxImage(t, reg)
	e := newEnv(t)
	e.must("pull", "-q", ref)
	return e, ref
}

// statusField returns one field of /proc/PID/status text.
func statusField(t *testing.T, status, field string) string {
	t.Helper()
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in:\n%s", field, status)
	return ""
}

// dockerDefaultCapEff is the CapEff of docker's default capabilities:
// CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID, SETPCAP,
// NET_BIND_SERVICE, NET_RAW, SYS_CHROOT, MKNOD, AUDIT_WRITE, SETFCAP.
const dockerDefaultCapEff = "00000000a80425fb"

func TestSecurityDefaults(t *testing.T) {
	e, ref := secEnv(t)
	host, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	allCaps := statusField(t, string(host), "CapBnd")

	profile := filepath.Join(t.TempDir(), "no-mkdir.json")
	if err := os.WriteFile(profile, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		flags      []string
		seccomp    string
		nnp        string
		capEff     string
		capEffHave []int // bits that must be set
	}{
		{name: "default", seccomp: "2", nnp: "1", capEff: dockerDefaultCapEff},
		{name: "privileged", flags: []string{"--privileged"}, seccomp: "0", capEff: allCaps},
		{name: "cap-drop ALL", flags: []string{"--cap-drop", "ALL"}, seccomp: "2", capEff: "0000000000000000"},
		{name: "cap-add NET_ADMIN", flags: []string{"--cap-add", "net_admin"}, seccomp: "2", capEffHave: []int{12, 0, 13}},
		{name: "unconfined", flags: []string{"--security-opt", "seccomp=unconfined"}, seccomp: "0", capEff: dockerDefaultCapEff},
		{name: "no-new-privileges=false", flags: []string{"--security-opt", "no-new-privileges=false"}, seccomp: "2", nnp: "0"},
		{name: "no-new-privileges", flags: []string{"--security-opt", "no-new-privileges"}, nnp: "1"},
		{name: "profile file", flags: []string{"--security-opt", "seccomp=" + profile}, seccomp: "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"run", "--rm", "--network", "none"}, tt.flags...), ref, "cat", "/proc/self/status")
			r := e.run(args...)
			if r.code != 0 {
				t.Fatalf("stockade %s: %s", strings.Join(args, " "), r)
			}
			if tt.seccomp != "" {
				if got := statusField(t, r.stdout, "Seccomp"); got != tt.seccomp {
					t.Errorf("Seccomp: %s, want %s", got, tt.seccomp)
				}
			}
			if tt.nnp != "" {
				if got := statusField(t, r.stdout, "NoNewPrivs"); got != tt.nnp {
					t.Errorf("NoNewPrivs: %s, want %s", got, tt.nnp)
				}
			}
			got := statusField(t, r.stdout, "CapEff")
			if tt.capEff != "" && got != tt.capEff {
				t.Errorf("CapEff: %s, want %s", got, tt.capEff)
			}
			mask, err := strconv.ParseUint(got, 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			for _, bit := range tt.capEffHave {
				if mask&(1<<bit) == 0 {
					t.Errorf("CapEff %s lacks capability %d", got, bit)
				}
			}
		})
	}

	t.Run("profile file denies mkdir", func(t *testing.T) {
		r := e.run("run", "--rm", "--network", "none", "--security-opt", "seccomp="+profile, ref, "busybox", "mkdir", "/tmp/x")
		if r.code == 0 || !strings.Contains(r.stderr, "Operation not permitted") {
			t.Errorf("mkdir under a profile that denies it: %s", r)
		}
		if r := e.run("run", "--rm", "--network", "none", ref, "busybox", "mkdir", "/tmp/x"); r.code != 0 {
			t.Errorf("mkdir under the default profile: %s", r)
		}
	})

	t.Run("device", func(t *testing.T) {
		r := e.run("run", "--rm", "--network", "none", "--device", "/dev/null:/dev/xnull", ref,
			"sh", "-c", "test -c /dev/xnull && echo discarded > /dev/xnull && cat /dev/xnull && echo ok")
		if r.code != 0 || r.stdout != "ok\n" {
			t.Errorf("--device /dev/null:/dev/xnull: %s", r)
		}
		// Permissions: /dev/null is among runc's default devices, so a
		// device outside them: /dev/kmsg, whose writes land harmlessly in
		// the kernel's log. Read-only, the device cgroup refuses a write.
		if r := e.run("run", "--rm", "--network", "none", "--device", "/dev/kmsg:/dev/xkmsg", ref,
			"sh", "-c", "echo stockade-e2e-device-test > /dev/xkmsg"); r.code != 0 {
			t.Errorf("write to /dev/kmsg given rwm: %s", r)
		}
		r = e.run("run", "--rm", "--network", "none", "--device", "/dev/kmsg:/dev/xkmsg:r", ref,
			"sh", "-c", "echo stockade-e2e-device-test > /dev/xkmsg")
		if r.code == 0 || !strings.Contains(r.stderr, "Operation not permitted") {
			t.Errorf("write to a read-only device: %s", r)
		}
	})
}

func TestSecurityBadInput(t *testing.T) {
	e, ref := secEnv(t)
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte("{\"defaultAction\": \"SCMP_ACT_ERRNO\",\n \"syscalls\": [}"), 0o644)
	unknown := filepath.Join(t.TempDir(), "unknown.json")
	os.WriteFile(unknown, []byte(`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_PERHAPS"}]}`), 0o644)
	tests := []struct {
		name  string
		flags []string
		want  []string
	}{
		{"seccomp not json", []string{"--security-opt", "seccomp=" + bad}, []string{bad, "not a valid seccomp profile: line 2"}},
		{"seccomp unknown action", []string{"--security-opt", "seccomp=" + unknown}, []string{unknown, `unknown action "SCMP_ACT_PERHAPS"`}},
		{"seccomp missing file", []string{"--security-opt", "seccomp=/nonexistent/p.json"}, []string{"/nonexistent/p.json", "no such file"}},
		{"unknown cap", []string{"--cap-add", "NET_ADMN"}, []string{`--cap-add "NET_ADMN": unknown capability`}},
		{"unknown security-opt", []string{"--security-opt", "selinux=on"}, []string{`"selinux=on"`, "unknown option"}},
		{"missing device", []string{"--device", "/dev/stockade-none"}, []string{`--device "/dev/stockade-none"`, "no such device"}},
		{"jail param on linux", []string{"--jail-param", "allow.mlock=1"}, []string{`--jail-param "allow.mlock=1": is for FreeBSD jails only`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"run", "--rm", "--name", "sec-bad", "--network", "none"}, tt.flags...), ref, "true")
			r := e.run(args...)
			if r.code == 0 {
				t.Fatalf("accepted: %s", r)
			}
			msg := strings.TrimSpace(r.stderr)
			if strings.Count(msg, "\n") != 0 {
				t.Errorf("not one line: %q", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("stderr %q does not contain %q", msg, w)
				}
			}
			if ids := strings.Fields(e.run("ps", "-a", "-q").stdout); len(ids) != 0 {
				t.Errorf("containers left: %v", ids)
			}
		})
	}
}
