package engine

import (
	"io"

	"github.com/stockade/stockade/internal/monitorio"
)

// The attach protocol between `stockade run`/`start -a` and a container's
// monitor is monitorio's; these names keep the engine's API.
const (
	FrameHello      = monitorio.FrameHello
	FrameStdin      = monitorio.FrameStdin
	FrameStdout     = monitorio.FrameStdout
	FrameStderr     = monitorio.FrameStderr
	FrameStdinClose = monitorio.FrameStdinClose
	FrameResize     = monitorio.FrameResize
	FrameExit       = monitorio.FrameExit
	FrameError      = monitorio.FrameError
)

// AttachHello is the first frame of a client.
type AttachHello = monitorio.AttachHello

// ExitMessage is the payload of FrameExit.
type ExitMessage = monitorio.ExitMessage

// WriteFrame writes one frame.
func WriteFrame(w io.Writer, kind byte, payload []byte) error {
	return monitorio.WriteFrame(w, kind, payload)
}

// ReadFrame reads one frame. It returns io.EOF only at a frame boundary.
func ReadFrame(r io.Reader) (kind byte, payload []byte, err error) { return monitorio.ReadFrame(r) }

// ResizePayload encodes a terminal size for FrameResize.
func ResizePayload(rows, cols uint16) []byte { return monitorio.ResizePayload(rows, cols) }

// ParseResize decodes a FrameResize payload.
func ParseResize(p []byte) (rows, cols uint16, err error) { return monitorio.ParseResize(p) }
