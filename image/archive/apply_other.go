//go:build !linux && !freebsd

package archive

import (
	"context"
	"io"
)

func apply(context.Context, string, io.Reader, Options) (Stats, error) {
	return Stats{}, ErrUnsupported
}
