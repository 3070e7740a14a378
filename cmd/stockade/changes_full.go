//go:build !lean

package main

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// parseChanges parses each --change as one Dockerfile instruction, with
// buildkit's parser (as `stockade build` reads a Containerfile).
func parseChanges(changes []string) ([]instructions.Command, error) {
	var out []instructions.Command
	for _, ch := range changes {
		res, err := parser.Parse(strings.NewReader(ch))
		if err != nil {
			return nil, fmt.Errorf("--change %q: %w", ch, err)
		}
		if len(res.AST.Children) != 1 {
			return nil, fmt.Errorf("--change %q: want exactly one instruction", ch)
		}
		node := res.AST.Children[0]
		if !commitInstructions[strings.ToLower(node.Value)] {
			return nil, fmt.Errorf("--change %q: %s is not supported (only CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL)", ch, strings.ToUpper(node.Value))
		}
		cmd, err := instructions.ParseCommand(node)
		if err != nil {
			return nil, fmt.Errorf("--change %q: %s", ch, strings.Join(strings.Fields(err.Error()), " "))
		}
		out = append(out, cmd)
	}
	return out, nil
}

// applyChanges applies parsed --change instructions to an image config,
// with docker's rules: words are expanded with the config's environment,
// the shell form of CMD and ENTRYPOINT runs /bin/sh -c, an ENTRYPOINT
// without a CMD among the changes clears the inherited CMD, and WORKDIR is
// relative to the current one.
func applyChanges(cfg *ocispec.ImageConfig, cmds []instructions.Command) error {
	lex := shell.NewLex('\\')
	cmdSet := false
	for _, cmd := range cmds {
		if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
			env := shell.EnvsFromSlice(cfg.Env)
			err := ex.Expand(func(w string) (string, error) {
				r, _, err := lex.ProcessWord(w, env)
				return r, err
			})
			if err != nil {
				return fmt.Errorf("--change %s: %w", cmd.Name(), err)
			}
		}
		switch cmd := cmd.(type) {
		case *instructions.CmdCommand:
			cfg.Cmd = argv(cmd.ShellDependantCmdLine)
			cmdSet = true
		case *instructions.EntrypointCommand:
			cfg.Entrypoint = argv(cmd.ShellDependantCmdLine)
			if !cmdSet {
				cfg.Cmd = nil
			}
		case *instructions.EnvCommand:
			for _, kv := range cmd.Env {
				cfg.Env = setEnvVar(cfg.Env, kv.Key, kv.Value)
			}
		case *instructions.LabelCommand:
			cfg.Labels = maps.Clone(cfg.Labels)
			if cfg.Labels == nil {
				cfg.Labels = map[string]string{}
			}
			for _, kv := range cmd.Labels {
				cfg.Labels[kv.Key] = kv.Value
			}
		case *instructions.ExposeCommand:
			cfg.ExposedPorts = maps.Clone(cfg.ExposedPorts)
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = map[string]struct{}{}
			}
			for _, p := range cmd.Ports {
				port, err := exposedPort(p)
				if err != nil {
					return err
				}
				cfg.ExposedPorts[port] = struct{}{}
			}
		case *instructions.VolumeCommand:
			cfg.Volumes = maps.Clone(cfg.Volumes)
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			for _, v := range cmd.Volumes {
				if v = strings.TrimSpace(v); v == "" {
					return errors.New("--change VOLUME: an empty path")
				}
				cfg.Volumes[v] = struct{}{}
			}
		case *instructions.UserCommand:
			cfg.User = cmd.User
		case *instructions.WorkdirCommand:
			p := cmd.Path
			if !path.IsAbs(p) {
				p = path.Join("/", cfg.WorkingDir, p)
			}
			cfg.WorkingDir = path.Clean(p)
		case *instructions.StopSignalCommand:
			cfg.StopSignal = cmd.Signal
		default:
			return fmt.Errorf("--change %s is not supported", cmd.Name())
		}
	}
	return nil
}

// argv is the command line of CMD or ENTRYPOINT: the shell form runs
// through /bin/sh -c.
func argv(c instructions.ShellDependantCmdLine) []string {
	if c.PrependShell {
		return []string{"/bin/sh", "-c", strings.Join(c.CmdLine, " ")}
	}
	return append([]string{}, c.CmdLine...)
}

// commitInstructions are the instructions `commit --change` accepts, as
// docker's.
var commitInstructions = map[string]bool{
	"cmd": true, "entrypoint": true, "env": true, "expose": true, "label": true,
	"user": true, "volume": true, "workdir": true, "stopsignal": true,
}

// setEnvVar sets key in env, in place of an earlier value.
func setEnvVar(env []string, key, value string) []string {
	out := append([]string(nil), env...)
	for i, kv := range out {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			out[i] = key + "=" + value
			return out
		}
	}
	return append(out, key+"="+value)
}

// exposedPort reads one EXPOSE word, PORT[/PROTO], as the config key
// "PORT/proto".
func exposedPort(p string) (string, error) {
	num, proto, _ := strings.Cut(p, "/")
	proto = strings.ToLower(proto)
	if proto == "" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return "", fmt.Errorf("--change EXPOSE %s: unknown protocol %q", p, proto)
	}
	if n, err := strconv.ParseUint(num, 10, 16); err != nil || n == 0 {
		return "", fmt.Errorf("--change EXPOSE %s: not a port", p)
	}
	return num + "/" + proto, nil
}
