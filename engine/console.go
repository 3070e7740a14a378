package engine

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/internal/monitorio"
)

// ConsoleSocket is the AF_UNIX socket on which an OCI runtime sends the
// master side of a container's pseudo-terminal (runtime-spec's
// --console-socket), as one file descriptor in an SCM_RIGHTS message.
type ConsoleSocket struct {
	path string
	ln   *net.UnixListener
}

// NewConsoleSocket listens at path.
func NewConsoleSocket(path string) (*ConsoleSocket, error) {
	os.Remove(path)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return &ConsoleSocket{path: path, ln: ln}, nil
}

// Path is the socket's path, to pass to the runtime.
func (s *ConsoleSocket) Path() string { return s.path }

// Close stops listening and removes the socket.
func (s *ConsoleSocket) Close() error {
	err := s.ln.Close()
	os.Remove(s.path)
	return err
}

// Receive waits for the runtime to connect and returns the terminal
// master it sends.
func (s *ConsoleSocket) Receive(ctx context.Context) (*os.File, error) {
	if dl, ok := ctx.Deadline(); ok {
		s.ln.SetDeadline(dl)
	} else {
		s.ln.SetDeadline(time.Now().Add(time.Minute))
	}
	conn, err := s.ln.AcceptUnix()
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	defer conn.Close()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil || len(fds) == 0 {
			continue
		}
		for _, extra := range fds[1:] {
			unix.Close(extra)
		}
		// Non-blocking, so the file is pollable: read deadlines stop its
		// copy at a clean point for a handover to the small monitor.
		unix.SetNonblock(fds[0], true)
		return os.NewFile(uintptr(fds[0]), "pty-master"), nil
	}
	return nil, fmt.Errorf("console socket: no file descriptor received")
}

// SetTerminalSize sets a terminal's window size.
func SetTerminalSize(f *os.File, rows, cols uint16) error {
	return monitorio.SetTerminalSize(f, rows, cols)
}
