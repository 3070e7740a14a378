//go:build !freebsd

package unionfs

import (
	"errors"
	"testing"
)

func TestNewUnsupported(t *testing.T) {
	_, err := New(t.TempDir())
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("New on a system without unionfs: %v, want ErrUnsupported", err)
	}
	if _, err := New(""); err == nil {
		t.Error("New with an empty root succeeded")
	}
}
