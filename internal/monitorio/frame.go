package monitorio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The attach protocol between `stockade run`/`start -a` and a container's
// monitor runs over the monitor's unix socket. Every message is a frame:
// one byte of kind, four bytes of big-endian payload length, the payload.
//
// The client sends FrameHello first (payload: JSON AttachHello), then
// stdin data, FrameStdinClose and FrameResize; the monitor sends stdout and
// stderr data and, last, FrameExit with the exit code as JSON.
const (
	FrameHello      byte = 'h'
	FrameStdin      byte = '0'
	FrameStdout     byte = '1'
	FrameStderr     byte = '2'
	FrameStdinClose byte = 'c'
	FrameResize     byte = 'r'
	FrameExit       byte = 'x'
	FrameError      byte = 'e'
)

// maxFrame bounds a frame's payload so a broken peer cannot make the other
// side allocate without limit.
const maxFrame = 1 << 20

// AttachHello is the first frame of a client.
type AttachHello struct {
	// Stdin tells that the client sends standard input.
	Stdin bool `json:"stdin"`
	// Start asks a monitor that waits for its first client to start the
	// container now.
	Start bool `json:"start"`
}

// ExitMessage is the payload of FrameExit.
type ExitMessage struct {
	ExitCode int `json:"exitCode"`
	// Error is what kept the container from running, without the
	// "start NAME:" a client puts before it; Container is that NAME.
	Error     string `json:"error,omitempty"`
	Container string `json:"container,omitempty"`
}

// WriteFrame writes one frame.
func WriteFrame(w io.Writer, kind byte, payload []byte) error {
	if len(payload) > maxFrame {
		return fmt.Errorf("attach frame of %d bytes is over the %d limit", len(payload), maxFrame)
	}
	var hdr [5]byte
	hdr[0] = kind
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	if len(payload) == 0 {
		_, err := w.Write(hdr[:])
		return err
	}
	buf := make([]byte, 0, 5+len(payload))
	buf = append(buf, hdr[:]...)
	buf = append(buf, payload...)
	_, err := w.Write(buf)
	return err
}

// ReadFrame reads one frame. It returns io.EOF only at a frame boundary.
func ReadFrame(r io.Reader) (kind byte, payload []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, fmt.Errorf("attach frame header: %w", err)
		}
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("attach frame of %d bytes is over the %d limit", n, maxFrame)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, fmt.Errorf("attach frame payload: %w", err)
	}
	return hdr[0], payload, nil
}

// ResizePayload encodes a terminal size for FrameResize.
func ResizePayload(rows, cols uint16) []byte {
	var b [4]byte
	binary.BigEndian.PutUint16(b[:2], rows)
	binary.BigEndian.PutUint16(b[2:], cols)
	return b[:]
}

// ParseResize decodes a FrameResize payload.
func ParseResize(p []byte) (rows, cols uint16, err error) {
	if len(p) != 4 {
		return 0, 0, fmt.Errorf("resize frame of %d bytes, want 4", len(p))
	}
	return binary.BigEndian.Uint16(p[:2]), binary.BigEndian.Uint16(p[2:]), nil
}
