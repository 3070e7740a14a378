package runc

import (
	"errors"
	"os/exec"
	"testing"

	"github.com/stockade/stockade/ociruntime"
)

func TestParseRuncLogLine(t *testing.T) {
	tests := []struct {
		line      string
		level     string
		msg       string
		wantParse bool
	}{
		{`{"level":"error","msg":"container does not exist","time":"2026-11-25T20:19:00Z"}`, "error", "container does not exist", true},
		{`{"msg": "error opening file", "level": "error", "time": "2026-11-25T20:19:00.000000Z"}`, "error", "error opening file", true}, // crun
		{`{"level":"warning","msg":"cgroup v1 is deprecated"}`, "warning", "cgroup v1 is deprecated", true},
		{`{"level":"DEBUG","msg":"nsexec"}`, "debug", "nsexec", true},
		{`{"level":"error"}`, "", "", false},
		{`not json`, "", "", false},
	}
	for _, tt := range tests {
		level, msg, ok := parseRuncLogLine([]byte(tt.line))
		if level != tt.level || msg != tt.msg || ok != tt.wantParse {
			t.Errorf("%s: got %q %q %v", tt.line, level, msg, ok)
		}
	}
}

// The messages are those of runc 1.1 and crun 1.x.
func TestClassifyRuncError(t *testing.T) {
	tests := []struct {
		op, msg string
		want    error
	}{
		{"state", "container does not exist", ociruntime.ErrNotFound},
		{"exec", "exec failed: container does not exist", ociruntime.ErrNotFound},
		{"create", "container with given ID already exists", ociruntime.ErrExists},
		{"create", "container `c1` already exists", ociruntime.ErrExists},
		{"run", "container with given ID already exists", ociruntime.ErrExists},
		{"delete", "cannot delete container c2 that is not stopped: running", ociruntime.ErrRunning},
		{"delete", "the container `c2` is not in 'stopped' state", ociruntime.ErrRunning},
		{"start", "cannot start an already running container", ociruntime.ErrRunning},
		{"start", "cannot start a container that has stopped", ociruntime.ErrNotRunning},
		{"kill", "container not running", ociruntime.ErrNotRunning},
		{"kill", "kill container: No such process", ociruntime.ErrNotRunning},
		{"exec", "exec failed: cannot exec in a stopped container", ociruntime.ErrNotRunning},
		{"exec", `exec failed: unable to start container process: exec: "/x": stat /x: no such file or directory`, nil},
		{"create", "container is running", nil},
		{"create", "open config.json: no such file or directory", nil},
	}
	for _, tt := range tests {
		if got := classifyRuncError(tt.op, tt.msg); got != tt.want {
			t.Errorf("%s %q: got %v, want %v", tt.op, tt.msg, got, tt.want)
		}
	}
}

func TestRuncErrorMessage(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Runtime: "runc", Op: "create", ID: "c1", Msg: "container with given ID already exists", Err: ociruntime.ErrExists},
			"runc create c1: container with given ID already exists"},
		{&Error{Runtime: "crun", Op: "list", Msg: "boom"}, "crun list: boom"},
		{&Error{Runtime: "runc", Op: "start", ID: "c1", Msg: `runtime runc: executable file not found in $PATH`, Err: &exec.Error{Name: "runc", Err: exec.ErrNotFound}},
			"runc start c1: runtime runc: executable file not found in $PATH"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
		if tt.err.Err != nil && !errors.Is(tt.err, tt.err.Err) {
			t.Errorf("%v does not unwrap to %v", tt.err, tt.err.Err)
		}
	}
	if !errors.Is(&Error{Err: &exec.Error{Name: "runc", Err: exec.ErrNotFound}}, exec.ErrNotFound) {
		t.Error("exec.ErrNotFound is not found through Error")
	}
}

func TestOneLine(t *testing.T) {
	tests := map[string]string{
		"a\nb":            "a b",
		"  a \n\n b  c\n": "a b c",
		"":                "",
	}
	for in, want := range tests {
		if got := oneLine(in); got != want {
			t.Errorf("oneLine(%q) = %q, want %q", in, got, want)
		}
	}
}
