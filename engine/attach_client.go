package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"sync"
)

// AttachOptions are the streams of Attach.
type AttachOptions struct {
	// Stdin, when set, is sent to the container (which must be
	// interactive); its end closes the container's stdin.
	Stdin io.Reader
	// Stdout and Stderr receive the container's output.
	Stdout, Stderr io.Writer
	// Start starts a container whose monitor waits for its first client.
	Start bool
	// Resize carries terminal sizes (rows, cols) to a container with a
	// pseudo-terminal.
	Resize <-chan [2]uint16
	// Conn, when set, is the connection to use instead of dialing the
	// monitor's socket, its hello already sent (PendingMonitor.TakeAttach,
	// whose hello says Stdin when the container is interactive). Attach
	// closes it.
	Conn net.Conn
}

// Attach connects to the container's monitor, streams until the
// container exits for good, and returns its exit code.
func (e *Engine) Attach(ctx context.Context, id string, opts AttachOptions) (int, error) {
	conn := opts.Conn
	if conn == nil {
		var d net.Dialer
		var err error
		if conn, err = d.DialContext(ctx, "unix", e.socketPath(id)); err != nil {
			return 0, fmt.Errorf("attach %s: %w", shortID(id), err)
		}
		hello, _ := json.Marshal(AttachHello{Stdin: opts.Stdin != nil, Start: opts.Start})
		if err := WriteFrame(conn, FrameHello, hello); err != nil {
			conn.Close()
			return 0, fmt.Errorf("attach %s: %w", shortID(id), err)
		}
	}
	defer conn.Close()
	var wmu sync.Mutex // frames from the stdin and resize goroutines
	if opts.Stdin != nil {
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := opts.Stdin.Read(buf)
				if n > 0 {
					wmu.Lock()
					werr := WriteFrame(conn, FrameStdin, buf[:n])
					wmu.Unlock()
					if werr != nil {
						return
					}
				}
				if err != nil {
					wmu.Lock()
					WriteFrame(conn, FrameStdinClose, nil)
					wmu.Unlock()
					return
				}
			}
		}()
	}
	if opts.Resize != nil {
		go func() {
			for sz := range opts.Resize {
				wmu.Lock()
				err := WriteFrame(conn, FrameResize, ResizePayload(sz[0], sz[1]))
				wmu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	for {
		kind, payload, err := ReadFrame(conn)
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			// The monitor went away without an exit frame: ask the
			// record, which has the exit only when a monitor recorded
			// it (it crashed before the frame). Otherwise the monitor
			// was killed: the exit status is unknown, not 0.
			c, gerr := e.Get(context.WithoutCancel(ctx), id)
			if gerr != nil {
				return 0, fmt.Errorf("attach %s: %w", shortID(id), err)
			}
			if c.State.Status != StatusExited || c.State.FinishedAt.IsZero() {
				return 0, fmt.Errorf("attach %s: the monitor of %s ended before the container's exit was recorded (killed?): its exit status is unknown; see stockade ps", shortID(id), c.Name)
			}
			return c.State.ExitCode, nil
		}
		switch kind {
		case FrameStdout:
			if opts.Stdout != nil {
				opts.Stdout.Write(payload)
			}
		case FrameStderr:
			if opts.Stderr != nil {
				opts.Stderr.Write(payload)
			}
		case FrameExit:
			var m ExitMessage
			if err := json.Unmarshal(payload, &m); err != nil {
				return 0, fmt.Errorf("attach %s: exit frame: %w", shortID(id), err)
			}
			if m.Error != "" {
				name := m.Container
				if name == "" {
					name = shortID(id)
				}
				return m.ExitCode, &StartError{Container: name, Msg: m.Error, Code: m.ExitCode}
			}
			return m.ExitCode, nil
		}
	}
}
