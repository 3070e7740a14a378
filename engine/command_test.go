package engine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestCheckCommand(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"bin", "usr/bin", "opt/app", "data", "etc"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.WriteFile(filepath.Join(root, "bin/sh"), []byte("#!"), 0o755)
	os.WriteFile(filepath.Join(root, "usr/bin/plain"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(root, "opt/app/run"), []byte("x"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/file"), []byte("x"), 0o755)
	os.Symlink("/bin/sh", filepath.Join(root, "bin/ash"))
	// A link that points out of the root must be resolved inside it.
	os.Symlink("/../../../../../../bin/true", filepath.Join(root, "bin/escape"))
	os.MkdirAll(filepath.Join(root, "bin/adir"), 0o755)

	tests := []struct {
		name   string
		args   []string
		env    []string
		cwd    string
		mounts []string
		code   int // 0: no error
	}{
		{"in PATH", []string{"sh"}, nil, "/", nil, 0},
		{"symlink in PATH", []string{"ash"}, nil, "/", nil, 0},
		{"missing in PATH", []string{"nope"}, nil, "/", nil, ExitNotFound},
		{"absolute", []string{"/opt/app/run"}, nil, "/", nil, 0},
		{"absolute missing", []string{"/opt/app/nope"}, nil, "/", nil, ExitNotFound},
		{"relative to cwd", []string{"./run"}, nil, "/opt/app", nil, 0},
		{"relative missing", []string{"./run"}, nil, "/", nil, ExitNotFound},
		{"not executable", []string{"/usr/bin/plain"}, nil, "/", nil, ExitNotExecutable},
		{"not executable in PATH", []string{"plain"}, nil, "/", nil, ExitNotExecutable},
		{"directory", []string{"/opt/app"}, nil, "/", nil, ExitNotExecutable},
		{"directory in PATH is skipped", []string{"adir"}, nil, "/", nil, ExitNotFound},
		{"component is a file", []string{"/etc/file/x"}, nil, "/", nil, ExitNotFound},
		{"own PATH", []string{"run"}, []string{"PATH=/opt/app"}, "/", nil, 0},
		{"own PATH without it", []string{"sh"}, []string{"PATH=/opt/app"}, "/", nil, ExitNotFound},
		{"escaping link stays inside", []string{"escape"}, nil, "/", nil, ExitNotFound},
		{"under a volume: the runtime decides", []string{"/data/tool"}, nil, "/", []string{"/data"}, 0},
		{"PATH under a volume: the runtime decides", []string{"tool"}, []string{"PATH=/data"}, "/", []string{"/data"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &specs.Spec{Process: &specs.Process{Args: tt.args, Env: tt.env, Cwd: tt.cwd}}
			for _, m := range tt.mounts {
				spec.Mounts = append(spec.Mounts, specs.Mount{Destination: m, Type: "bind", Source: t.TempDir()})
			}
			serr := checkCommand("c1", root, spec)
			got := 0
			if serr != nil {
				got = serr.ExitCode()
			}
			if got != tt.code {
				t.Fatalf("exit code %d (%v), want %d", got, serr, tt.code)
			}
		})
	}
}

func TestStartErrorCodes(t *testing.T) {
	// The code comes from what failed, never from the message's words.
	if got := (&StartError{Msg: "mount /nope: no such file or directory"}).ExitCode(); got != ExitRefused {
		t.Errorf("a runtime failure that mentions a missing file: %d, want %d", got, ExitRefused)
	}
	if got := (&StartError{Msg: "x", Code: ExitNotFound}).ExitCode(); got != ExitNotFound {
		t.Errorf("got %d", got)
	}
	if got := (&StartError{Op: "exec", Container: "web", Msg: "boom"}).Error(); got != "exec web: boom" {
		t.Errorf("got %q", got)
	}
}

func TestExecBaseEnv(t *testing.T) {
	tests := []struct {
		env  []string
		tty  bool
		want string
	}{
		{[]string{"PATH=/bin"}, true, "PATH=/bin TERM=xterm"},
		{[]string{"PATH=/bin", "TERM=vt100"}, true, "PATH=/bin TERM=vt100"},
		{[]string{"PATH=/bin"}, false, "PATH=/bin"},
	}
	for _, tt := range tests {
		if got := strings.Join(execBaseEnv(tt.env, tt.tty), " "); got != tt.want {
			t.Errorf("execBaseEnv(%v, %v) = %q, want %q", tt.env, tt.tty, got, tt.want)
		}
	}
}

// TestReadCommandSpec: the process and the mounts of a bundle's
// config.json, as a full read has them; a malformed or missing file is an
// error.
func TestReadCommandSpec(t *testing.T) {
	full := &specs.Spec{
		Process: &specs.Process{Args: []string{"sh", "-c", "true"}, Cwd: "/w", Env: []string{"PATH=/bin"}},
		Mounts:  []specs.Mount{{Destination: "/data", Type: "bind", Source: "/x"}},
		Linux:   &specs.Linux{Seccomp: &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}},
	}
	for _, tt := range []struct {
		name, data string
		want       *specs.Spec
	}{
		{"full spec", "", full},
		{"malformed", "{", nil},
		{"missing", "-", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			data := []byte(tt.data)
			if tt.want != nil {
				data, _ = json.Marshal(tt.want)
			}
			if tt.data != "-" {
				if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := readCommandSpec(dir)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("no error, spec %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Process, tt.want.Process) || !reflect.DeepEqual(got.Mounts, tt.want.Mounts) || got.Linux != nil {
				t.Errorf("got %+v, want the process and mounts of %+v", got, tt.want)
			}
		})
	}
}
