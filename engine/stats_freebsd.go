package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// sample reads racct's usage of the container's jail (jailNameOf)
// with rctl(8), and its network bytes from the host ends of its epairs
// with netstat(1).
func (e *Engine) sample(ctx context.Context, c *Container) (*Stats, error) {
	spec, err := readSpec(e.containerDir(c.ID))
	if err != nil {
		spec = nil // the defaults: the jail named by the id, no limit
	}
	cmd := exec.CommandContext(ctx, "rctl", "-u", "jail:"+jailNameOf(spec, c.ID))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, rctlError(errb.String(), err)
	}
	s, err := parseRctlUsage(out.String())
	if err != nil {
		return nil, err
	}
	s.Read = time.Now()
	if s.MemoryLimit = specMemoryLimit(spec); s.MemoryLimit == 0 {
		s.MemoryLimit, _ = unix.SysctlUint64("hw.physmem")
	}
	// The host end of an epair counts the other way round: what it
	// sends, the container receives.
	for _, ifname := range hostInterfaces(c) {
		out, err := exec.CommandContext(ctx, "netstat", "-b", "-n", "-I", ifname).Output()
		if err != nil {
			continue
		}
		if in, sent, ok := parseNetstatLink(string(out)); ok {
			s.NetRx += sent
			s.NetTx += in
		}
	}
	return s, nil
}

// readSpec reads the bundle's whole config.json.
func readSpec(bundleDir string) (*specs.Spec, error) {
	data, err := os.ReadFile(filepath.Join(bundleDir, "config.json"))
	if err != nil {
		return nil, err
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	if spec.Process == nil {
		return nil, fmt.Errorf("config.json has no process")
	}
	return &spec, nil
}
