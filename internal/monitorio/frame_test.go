package monitorio

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestFrames(t *testing.T) {
	var buf bytes.Buffer
	frames := []struct {
		kind    byte
		payload string
	}{{FrameHello, `{"stdin":true}`}, {FrameStdout, "hello\n"}, {FrameStdinClose, ""}, {FrameExit, `{"exitCode":3}`}}
	for _, f := range frames {
		if err := WriteFrame(&buf, f.kind, []byte(f.payload)); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range frames {
		k, p, err := ReadFrame(&buf)
		if err != nil || k != f.kind || string(p) != f.payload {
			t.Fatalf("got %c %q %v, want %c %q", k, p, err, f.kind, f.payload)
		}
	}
	if _, _, err := ReadFrame(&buf); err != io.EOF {
		t.Errorf("at the end: %v, want io.EOF", err)
	}
}

func TestFrameErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"short header", "\x31\x00", "attach frame header: unexpected EOF"},
		{"short payload", "\x31\x00\x00\x00\x05abc", "attach frame payload: unexpected EOF"},
		{"too large", "\x31\xff\xff\xff\xff", "attach frame of 4294967295 bytes is over the 1048576 limit"},
	}
	for _, tt := range tests {
		_, _, err := ReadFrame(strings.NewReader(tt.in))
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.want)
		}
	}
	if err := WriteFrame(io.Discard, FrameStdout, make([]byte, maxFrame+1)); err == nil {
		t.Error("oversized frame written")
	}
}

func TestResize(t *testing.T) {
	r, c, err := ParseResize(ResizePayload(40, 132))
	if err != nil || r != 40 || c != 132 {
		t.Errorf("got %d %d %v", r, c, err)
	}
	if _, _, err := ParseResize([]byte{1}); err == nil {
		t.Error("short resize accepted")
	}
}
