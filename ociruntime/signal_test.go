package ociruntime

import (
	"syscall"
	"testing"
)

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		want syscall.Signal
		err  string
	}{
		{"TERM", syscall.SIGTERM, ""},
		{"SIGKILL", syscall.SIGKILL, ""},
		{"hup", syscall.SIGHUP, ""},
		{"9", syscall.SIGKILL, ""},
		{"0", 0, "signal 0 out of range"},
		{"NOPE", 0, `unknown signal "NOPE"`},
	}
	for _, tt := range tests {
		got, err := ParseSignal(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%q: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %v %v", tt.in, got, err)
		}
	}
}
