//go:build !linux && !freebsd

package main

import "testing"

// Where there is no runtime, every container command says so, after its
// arguments were checked.
func TestNoRuntime(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"create", "c1", "/b"}, "stockade-runtime: create: no container runtime on this operating system (jails on FreeBSD, runc on Linux)"},
		{[]string{"ext", "exec", "-p", "p.json", "c1"}, "stockade-runtime: exec: no container runtime on this operating system (jails on FreeBSD, runc on Linux)"},
		{[]string{"list"}, "stockade-runtime: list: no container runtime on this operating system (jails on FreeBSD, runc on Linux)"},
		{[]string{"kill", "c1", "NOPE"}, `stockade-runtime: kill: unknown signal "NOPE"`},
	}
	for _, tt := range tests {
		code, _, stderr := runRT(t, append([]string{"--root", t.TempDir()}, tt.args...)...)
		if code != 1 || stderr != tt.wantErr+"\n" {
			t.Errorf("%q: exit %d, %q", tt.args, code, stderr)
		}
	}
}
