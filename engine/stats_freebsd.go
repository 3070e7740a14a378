package engine

import (
	"bytes"
	"context"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"
)

// sample reads racct's usage of the container's jail (named by its id)
// with rctl(8).
func (e *Engine) sample(ctx context.Context, c *Container) (*Stats, error) {
	cmd := exec.CommandContext(ctx, "rctl", "-u", "jail:"+c.ID)
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
	if s.MemoryLimit = e.specMemoryLimit(c); s.MemoryLimit == 0 {
		s.MemoryLimit, _ = unix.SysctlUint64("hw.physmem")
	}
	return s, nil
}
