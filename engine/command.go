package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/bundle"
)

// Exit codes of a container that did not start, as docker reports them.
const (
	// ExitRefused: stockade or the runtime refused or failed.
	ExitRefused = 125
	// ExitNotExecutable: the command exists but cannot be executed.
	ExitNotExecutable = 126
	// ExitNotFound: the command does not exist.
	ExitNotFound = 127
)

// checkCommand looks for the process's command in the container's root
// file system the way exec would (a name without a slash in PATH, else a
// path from the working directory) and returns a StartError with
// ExitNotFound or ExitNotExecutable when it is missing or unusable. It
// stays silent when it cannot know: when the command may be under a mount
// the root does not show (a volume), the runtime decides.
func checkCommand(name, rootfs string, spec *specs.Spec) *StartError {
	if spec == nil || spec.Process == nil || len(spec.Process.Args) == 0 {
		return nil
	}
	arg0 := spec.Process.Args[0]
	var candidates []string
	if strings.Contains(arg0, "/") {
		p := arg0
		if !path.IsAbs(p) {
			p = path.Join("/", spec.Process.Cwd, p)
		}
		candidates = []string{path.Clean(p)}
	} else {
		for _, dir := range strings.Split(processPath(spec), ":") {
			if dir == "" {
				dir = "."
			}
			if !path.IsAbs(dir) {
				dir = path.Join("/", spec.Process.Cwd, dir)
			}
			candidates = append(candidates, path.Join(dir, arg0))
		}
	}
	var denied string
	for _, p := range candidates {
		if underMount(p, spec.Mounts) {
			return nil
		}
		host, err := securejoin.SecureJoin(rootfs, p)
		if err != nil {
			return nil
		}
		st, err := os.Stat(host)
		switch {
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
			continue
		case err != nil:
			return nil
		case st.IsDir():
			if strings.Contains(arg0, "/") {
				return &StartError{Container: name, Msg: fmt.Sprintf("exec %s: is a directory", arg0), Code: ExitNotExecutable}
			}
			continue
		case st.Mode().Perm()&0o111 == 0:
			if denied == "" {
				denied = p
			}
			continue
		}
		return nil
	}
	if denied != "" {
		return &StartError{Container: name, Msg: fmt.Sprintf("exec %s: permission denied", denied), Code: ExitNotExecutable}
	}
	if strings.Contains(arg0, "/") {
		return &StartError{Container: name, Msg: fmt.Sprintf("exec %s: no such file or directory", arg0), Code: ExitNotFound}
	}
	return &StartError{Container: name, Msg: fmt.Sprintf("exec %q: executable file not found in $PATH", arg0), Code: ExitNotFound}
}

// processPath is the PATH the process sees, or the default of its OS.
func processPath(spec *specs.Spec) string {
	for _, kv := range spec.Process.Env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			return v
		}
	}
	if spec.FreeBSD != nil {
		return bundle.DefaultFreeBSDPath
	}
	return bundle.DefaultLinuxPath
}

// underMount reports whether p is at or below a mount's destination, where
// the root file system alone does not tell what is there.
func underMount(p string, mounts []specs.Mount) bool {
	for _, m := range mounts {
		d := path.Clean(m.Destination)
		if d != "/" && (p == d || strings.HasPrefix(p, d+"/")) {
			return true
		}
	}
	return false
}

// runtimeMessage is a runtime's error in its own words, without the
// runtime's prefix ("runc exec <64-hex id>: "), which names the container
// by an id the user never typed. Runtimes' errors say it through a
// Message method.
func runtimeMessage(err error) string {
	var m interface{ Message() string }
	if errors.As(err, &m) && m.Message() != "" {
		return m.Message()
	}
	return err.Error()
}

// readCommandSpec reads what checkCommand and Exec look at from the
// bundle's config.json: the process and the mounts. The rest (the Linux
// section with its seccomp profile is most of the file) is skipped, which
// saves a process that just started the decoders of those types: 2.6 ms
// of a monitor's start here, on the path of every start, and of every
// health check's, whose checker has just been exec'd back.
func readCommandSpec(bundleDir string) (*specs.Spec, error) {
	data, err := os.ReadFile(filepath.Join(bundleDir, "config.json"))
	if err != nil {
		return nil, err
	}
	var part struct {
		Process *specs.Process `json:"process"`
		Mounts  []specs.Mount  `json:"mounts"`
	}
	if err := json.Unmarshal(data, &part); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	return &specs.Spec{Process: part.Process, Mounts: part.Mounts}, nil
}
