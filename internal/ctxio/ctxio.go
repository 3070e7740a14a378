// Package ctxio stops long copies when their context ends.
package ctxio

import (
	"context"
	"io"
)

// NewReader returns a reader of r that fails with ctx's error once ctx is
// done, before reading any further: an io.Copy from it ends at its next
// Read after a cancel.
func NewReader(ctx context.Context, r io.Reader) io.Reader {
	return &reader{ctx: ctx, r: r}
}

type reader struct {
	ctx context.Context
	r   io.Reader
}

func (c *reader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
