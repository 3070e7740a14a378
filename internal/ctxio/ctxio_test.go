package ctxio

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestNewReader: the reader passes r's bytes on while ctx lives and
// fails with ctx's error once it is done, without reading r.
func TestNewReader(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	src := strings.NewReader("abcdef")
	r := NewReader(ctx, src)
	buf := make([]byte, 3)
	if n, err := r.Read(buf); n != 3 || err != nil || string(buf) != "abc" {
		t.Fatalf("read before the cancel: %d %q %v", n, buf[:n], err)
	}
	cancel()
	if n, err := io.Copy(io.Discard, r); n != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("copy after the cancel: %d bytes, %v", n, err)
	}
	if src.Len() != 3 {
		t.Errorf("r was read after the cancel: %d bytes left, want 3", src.Len())
	}
}
