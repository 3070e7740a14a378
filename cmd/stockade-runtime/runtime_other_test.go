//go:build !linux && !freebsd

package main

import "testing"

// Until the jail runtime exists, every container command says so, after
// its arguments were checked.
func TestNoJailRuntime(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"create", "c1", "/b"}, "stockade-runtime: create: the jail runtime is not built yet"},
		{[]string{"ext", "exec", "-p", "p.json", "c1"}, "stockade-runtime: exec: the jail runtime is not built yet"},
		{[]string{"list"}, "stockade-runtime: list: the jail runtime is not built yet"},
		{[]string{"kill", "c1", "NOPE"}, `stockade-runtime: kill: unknown signal "NOPE"`},
	}
	for _, tt := range tests {
		code, _, stderr := runRT(t, append([]string{"--root", t.TempDir()}, tt.args...)...)
		if code != 1 || stderr != tt.wantErr+"\n" {
			t.Errorf("%q: exit %d, %q", tt.args, code, stderr)
		}
	}
}
