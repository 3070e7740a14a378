//go:build !linux && !freebsd

package engine

import (
	"context"
	"errors"
)

func (e *Engine) sample(context.Context, *Container) (*Stats, error) {
	return nil, errors.New("stats are read on Linux (cgroup v2) and FreeBSD (racct) only")
}
