package main

import (
	"strings"
	"testing"
)

func TestPassThrough(t *testing.T) {
	env := func(vars ...string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			for _, kv := range vars {
				if name, v, _ := strings.Cut(kv, "="); name == k {
					return v, true
				}
			}
			return "", false
		}
	}
	none := env()
	tests := []struct {
		name   string
		args   string
		env    func(string) (string, bool)
		want   string // runc's arguments; "" = not a pass-through
		wantID string
		runc   string
	}{
		{"state", "state c1", none, "--root /run/stockade-runtime/runc state c1", "c1", "runc"},
		{"root", "--root /r start c1", none, "--root /r/runc start c1", "c1", "runc"},
		{"pause", "--root /r pause c1", none, "--root /r/runc pause c1", "c1", "runc"},
		{"resume", "--root /r resume c1", none, "--root /r/runc resume c1", "c1", "runc"},
		{"root=", "--root=/r start c1", none, "--root /r/runc start c1", "c1", "runc"},
		{"containerd's globals", "--root /r --log /l.json --log-format json delete c1", none,
			"--root /r/runc --log /l.json --log-format json delete c1", "c1", "runc"},
		{"json to stderr", "--root /r --log-format=json state c1", none, "--root /r/runc --log-format json state c1", "c1", "runc"},
		{"debug", "--root /r --debug state c1", none, "--root /r/runc --debug state c1", "c1", "runc"},
		{"log-level debug", "--root /r --log-level debug state c1", none, "--root /r/runc --debug state c1", "c1", "runc"},
		{"systemd-cgroup ignored", "--root /r --systemd-cgroup state c1", none, "--root /r/runc state c1", "c1", "runc"},
		{"runc flag", "--root /r --runc crun state c1", none, "--root /r/runc state c1", "c1", "crun"},
		{"runc env", "--root /r state c1", env("STOCKADE_RUNC=/usr/bin/crun"), "--root /r/runc state c1", "c1", "/usr/bin/crun"},
		{"kill default", "--root /r kill c1", none, "--root /r/runc kill c1 15", "c1", "runc"},
		{"kill runj", "--root /r kill c1 KILL", none, "--root /r/runc kill c1 9", "c1", "runc"},
		{"kill runc all", "--root /r kill --all c1 SIGINT", none, "--root /r/runc kill --all c1 2", "c1", "runc"},
		{"kill flags after", "--root /r kill c1 9 -a", none, "--root /r/runc kill --all c1 9", "c1", "runc"},
		{"delete force", "--root /r delete -f c1", none, "--root /r/runc delete --force c1", "c1", "runc"},
		{"end of flags", "--root /r -- state c1", none, "--root /r/runc state c1", "c1", "runc"},
		{"single dash", "-root /r -debug state c1", none, "--root /r/runc --debug state c1", "c1", "runc"},
		{"runc flag over env", "--root /r --runc /bin/crun state c1", env("STOCKADE_RUNC=/usr/bin/crun"), "--root /r/runc state c1", "c1", "/bin/crun"},

		{"create", "--root /r create --bundle /b c1", none, "--root /r/runc --log /dev/null --log-format text create --bundle /b c1", "c1", "runc"},
		{"create runj", "--root /r create c1 /b", none, "--root /r/runc --log /dev/null --log-format text create --bundle /b c1", "c1", "runc"},
		{"create all flags", "--root /r --log /l --log-format json create -b /b --pid-file /p --preserve-fds 2 --no-pivot c1", none,
			"--root /r/runc --log /l --log-format json create --bundle /b --pid-file /p --preserve-fds 2 c1", "c1", "runc"},
		{"kill --pid (an exec)", "--root /r kill c1 TERM --pid 42", none, "", "", ""},
		{"bad signal", "--root /r kill c1 SIGNOPE", none, "", "", ""},
		{"create with a console socket", "--root /r create --bundle /b --console-socket /s c1", none, "", "", ""},
		{"exec of a command", "--root /r exec c1 true", none, "", "", ""},
		{"exec", "--root /r exec --process /p.json c1", none, "--root /r/runc --log /dev/null --log-format text exec --process /p.json c1", "c1", "runc"},
		{"exec all flags", "--root /r --log /l exec -p /p.json -d --pid-file /pid --preserve-fds 1 c1", none,
			"--root /r/runc --log /l --log-format text exec --process /p.json --detach --pid-file /pid --preserve-fds 1 c1", "c1", "runc"},
		{"exec with a terminal", "--root /r exec --process /p.json --tty c1", none, "", "", ""},
		{"exec with env", "--root /r exec --process /p.json --env A=1 c1", none, "", "", ""},
		{"exec with cwd", "--root /r exec --process /p.json --cwd /tmp c1", none, "", "", ""},
		{"runj exec", "--root /r ext exec c1 -p /p.json", none, "", "", ""},
		{"list", "--root /r list", none, "", "", ""},
		{"features", "features", none, "", "", ""},
		{"help", "--root /r state --help", none, "", "", ""},
		{"version", "--version", none, "", "", ""},
		{"help before", "--help state c1", none, "", "", ""},
		{"version before", "-v state c1", none, "", "", ""},
		{"short flags together", "-vh state c1", none, "", "", ""},
		{"unknown global", "--frob state c1", none, "", "", ""},
		{"missing value", "--root", none, "", "", ""},
		{"no id", "--root /r state", none, "", "", ""},
		{"two ids", "--root /r state a b", none, "", "", ""},
		{"dot id", "--root /r state ..", none, "", "", ""},
		{"slash id", "--root /r state a/b", none, "", "", ""},
		{"bad log format", "--log-format yaml state c1", none, "", "", ""},
		{"bad log level", "--log-level loud state c1", none, "", "", ""},
		{"bad debug", "--debug=maybe state c1", none, "", "", ""},
		{"no command", "--root /r", none, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, inv, argv, ok := passThrough(strings.Fields(tt.args), tt.env)
			id := inv.ID
			if tt.want == "" {
				if ok {
					t.Fatalf("%q: passed through as %q, want the full command line", tt.args, argv)
				}
				return
			}
			if !ok {
				t.Fatalf("%q: not passed through, want %q", tt.args, tt.want)
			}
			if got := strings.Join(argv, " "); got != tt.want || id != tt.wantID || g.runc != tt.runc {
				t.Errorf("%q: runc %s %q (id %q), want %s %q (id %q)", tt.args, g.runc, got, id, tt.runc, tt.want, tt.wantID)
			}
		})
	}
}

// BenchmarkPassThrough: the decision a pass-through command makes before
// it executes runc (the global flags, the command's own, the translation),
// as containerd's shim calls delete.
func BenchmarkPassThrough(b *testing.B) {
	args := strings.Fields("--root /run/containerd/runc/k8s.io --log /run/containerd/io.containerd.runtime.v2.task/k8s.io/c1/log.json --log-format json delete --force c1")
	noEnv := func(string) (string, bool) { return "", false }
	for b.Loop() {
		if _, _, _, ok := passThrough(args, noEnv); !ok {
			b.Fatal("not passed through")
		}
	}
}
