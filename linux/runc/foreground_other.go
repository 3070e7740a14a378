//go:build !linux

package runc

import (
	"context"
	"errors"
)

// startWatch exists on Linux only, where runc runs.
type startWatch struct{}

func newStartWatch(string) (*startWatch, error) { return nil, errors.ErrUnsupported }

func (*startWatch) close() {}

func (*startWatch) wait(context.Context, int, string) (bool, error) {
	return false, errors.ErrUnsupported
}
