package build

import (
	"fmt"
	"maps"
	"path"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// defaultShell is the shell of RUN, CMD and ENTRYPOINT's shell form until
// a SHELL instruction changes it.
var defaultShell = []string{"/bin/sh", "-c"}

// stage is the state of the stage being built: its config (with the
// Docker extensions: healthcheck, onbuild, shell) and what decides how
// later instructions read.
type stage struct {
	cfg dockerspec.DockerOCIImage
	// args are the ARGs declared in the stage so far, with their values.
	args map[string]string
	// cmdSet is true once the stage itself set CMD: ENTRYPOINT then keeps
	// it (an inherited CMD is dropped, as docker does).
	cmdSet bool
}

func (s *stage) shell() []string {
	if len(s.cfg.Config.Shell) > 0 {
		return s.cfg.Config.Shell
	}
	return defaultShell
}

// env is the stage's environment for expanding words: ARGs, overridden by
// ENV.
func (s *stage) env() []string {
	out := make([]string, 0, len(s.args)+len(s.cfg.Config.Env))
	for _, kv := range sortedEnv(s.args) {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := lookupEnv(s.cfg.Config.Env, k); !ok {
			out = append(out, kv)
		}
	}
	return append(out, s.cfg.Config.Env...)
}

// runEnv are the ARGs a RUN sees besides the image's ENV: those that no
// ENV overrides.
func (s *stage) runEnv() []string {
	var out []string
	for _, kv := range sortedEnv(s.args) {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := lookupEnv(s.cfg.Config.Env, k); !ok {
			out = append(out, kv)
		}
	}
	return out
}

func lookupEnv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// setEnv sets key in env, replacing an earlier value in place.
func setEnv(env []string, key, value string) []string {
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			env[i] = key + "=" + value
			return env
		}
	}
	return append(env, key+"="+value)
}

// commandLine turns a CMD, ENTRYPOINT or RUN command line into argv: the
// shell form runs through the stage's shell.
func (s *stage) commandLine(c instructions.ShellDependantCmdLine) []string {
	if c.PrependShell {
		return append(append([]string{}, s.shell()...), strings.Join(c.CmdLine, " "))
	}
	return append([]string{}, c.CmdLine...)
}

// workdir resolves a WORKDIR path against the current one.
func (s *stage) workdir(p string) string {
	if !path.IsAbs(p) {
		wd := s.cfg.Config.WorkingDir
		if wd == "" {
			wd = "/"
		}
		p = path.Join(wd, p)
	}
	return path.Clean(p)
}

// applyMeta applies an instruction that changes only the config. It
// returns false for instructions that are not of that kind.
func (s *stage) applyMeta(cmd instructions.Command, expand func(string) (string, error)) (bool, error) {
	c := &s.cfg.Config
	switch cmd := cmd.(type) {
	case *instructions.EnvCommand:
		for _, kv := range cmd.Env {
			c.Env = setEnv(c.Env, kv.Key, kv.Value)
		}
	case *instructions.LabelCommand:
		if c.Labels == nil {
			c.Labels = map[string]string{}
		} else {
			c.Labels = maps.Clone(c.Labels)
		}
		for _, kv := range cmd.Labels {
			c.Labels[kv.Key] = kv.Value
		}
	case *instructions.MaintainerCommand:
		s.cfg.Author = cmd.Maintainer
	case *instructions.ExposeCommand:
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		} else {
			c.ExposedPorts = maps.Clone(c.ExposedPorts)
		}
		for _, raw := range cmd.Ports {
			p, err := expand(raw)
			if err != nil {
				return true, err
			}
			ports, err := exposedPorts(p)
			if err != nil {
				return true, err
			}
			for _, port := range ports {
				c.ExposedPorts[port] = struct{}{}
			}
		}
	case *instructions.VolumeCommand:
		if c.Volumes == nil {
			c.Volumes = map[string]struct{}{}
		} else {
			c.Volumes = maps.Clone(c.Volumes)
		}
		for _, v := range cmd.Volumes {
			if v = strings.TrimSpace(v); v == "" {
				return true, fmt.Errorf("VOLUME: an empty path")
			}
			c.Volumes[v] = struct{}{}
		}
	case *instructions.CmdCommand:
		c.Cmd = s.commandLine(cmd.ShellDependantCmdLine)
		s.cmdSet = true
	case *instructions.EntrypointCommand:
		c.Entrypoint = s.commandLine(cmd.ShellDependantCmdLine)
		if !s.cmdSet {
			c.Cmd = nil
		}
	case *instructions.UserCommand:
		c.User = cmd.User
	case *instructions.ShellCommand:
		c.Shell = append([]string{}, cmd.Shell...)
	case *instructions.StopSignalCommand:
		c.StopSignal = cmd.Signal
	case *instructions.HealthCheckCommand:
		h := *cmd.Health
		c.Healthcheck = &h
	case *instructions.OnbuildCommand:
		c.OnBuild = append(append([]string{}, c.OnBuild...), cmd.Expression)
	default:
		return false, nil
	}
	return true, nil
}

// exposedPorts reads one EXPOSE word: PORT[-PORT][/PROTO].
func exposedPorts(p string) ([]string, error) {
	num, proto, _ := strings.Cut(p, "/")
	proto = strings.ToLower(proto)
	if proto == "" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return nil, fmt.Errorf("EXPOSE %s: unknown protocol %q", p, proto)
	}
	lo, hi, isRange := strings.Cut(num, "-")
	if !isRange {
		hi = lo
	}
	a, err1 := strconv.ParseUint(lo, 10, 16)
	b, err2 := strconv.ParseUint(hi, 10, 16)
	if err1 != nil || err2 != nil || a == 0 || b < a {
		return nil, fmt.Errorf("EXPOSE %s: not a port or port range", p)
	}
	var out []string
	for n := a; n <= b; n++ {
		out = append(out, fmt.Sprintf("%d/%s", n, proto))
	}
	return out, nil
}
