package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/internal/phase"
)

// PendingMonitorID is the id argument of a monitor started before its
// container exists (SpawnMonitor): it reads the id from descriptor 4.
const PendingMonitorID = "-"

// PendingMonitor is a monitor process started before its container
// exists. It goes through exec, package initialisation and opening the
// stores while the command line creates the container; StartWith then
// sends it the container's id. `run` pays that start-up once, in parallel,
// instead of after the create.
type PendingMonitor struct {
	waitAttach bool
	mon        *monitorProcess
	id         *os.File // write end of the id pipe
	// client is the command line's end of the attach connection a
	// monitor that waits for its attach is started with (descriptor 5 is
	// the other end): StartWith sends its hello with the id, so the
	// monitor starts the process without waiting for the command line
	// to connect (TakeAttach).
	client    *os.File
	helloSent bool
}

// monitorProcess is a started monitor and the read end of its sync pipe.
type monitorProcess struct {
	cmd  *exec.Cmd
	sync *os.File
}

// SpawnMonitor starts a monitor that waits for the id of the container
// it is to run (see StartWith); command is the engine's MonitorCommand,
// known before the engine is opened, so that the monitor's start-up
// overlaps the opening of the stores too; waitAttach is as for Start.
// Close it when it is not handed to StartWith: it then exits having done
// nothing.
func SpawnMonitor(ctx context.Context, command func(id string, waitAttach bool) *exec.Cmd, waitAttach bool) (*PendingMonitor, error) {
	idR, idW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	extra := []*os.File{idR}
	var client, monClient *os.File
	if waitAttach {
		if client, monClient, err = socketPair(); err != nil {
			idR.Close()
			idW.Close()
			return nil, fmt.Errorf("monitor: %w", err)
		}
		extra = append(extra, monClient)
	}
	mon, err := spawnMonitor(ctx, command, PendingMonitorID, waitAttach, extra...)
	for _, f := range extra {
		f.Close()
	}
	if err != nil {
		idW.Close()
		if client != nil {
			client.Close()
		}
		return nil, err
	}
	return &PendingMonitor{waitAttach: waitAttach, mon: mon, id: idW, client: client}, nil
}

// socketPair returns the two ends of a connected unix stream socket.
func socketPair() (*os.File, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "attach"), os.NewFile(uintptr(fds[1]), "attach"), nil
}

// PendingClientFD is the descriptor of the attach connection of a pending
// monitor that waits for its attach (SpawnMonitor): its first client,
// whose hello comes with the id.
const PendingClientFD = 5

// PendingClient returns the attach client a pending monitor was started
// with on PendingClientFD, or nil when that descriptor is not a socket
// (a monitor started without one, or by an older command line).
func PendingClient() net.Conn {
	var st unix.Stat_t
	if err := unix.Fstat(PendingClientFD, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return nil
	}
	f := os.NewFile(PendingClientFD, "attach")
	conn, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil
	}
	return conn
}

// TakeAttach returns the command line's end of the attach connection,
// which StartWith sent the hello on (see AttachOptions.Conn), or nil; the
// caller closes it. Call it after StartWith succeeded.
func (p *PendingMonitor) TakeAttach() net.Conn {
	if p == nil || p.client == nil || !p.helloSent {
		return nil
	}
	f := p.client
	p.client = nil
	conn, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil
	}
	return conn
}

// Close ends a monitor that was not handed to StartWith (a create that
// failed); after StartWith it does nothing.
func (p *PendingMonitor) Close() {
	if p == nil {
		return
	}
	if p.mon == nil {
		p.closeClient() // not taken by an attach
		return
	}
	p.id.Close() // the monitor reads no id and exits
	p.mon.sync.Close()
	p.mon.cmd.Wait()
	p.mon = nil
	p.closeClient()
}

func (p *PendingMonitor) closeClient() {
	if p.client != nil {
		p.client.Close()
		p.client = nil
	}
}

// take hands the monitor to StartWith with the container's id, and on
// the attach connection, when there is one, hello: the command line's
// attach (TakeAttach) then continues the connection from there.
func (p *PendingMonitor) take(id string, hello AttachHello) (*monitorProcess, error) {
	mon := p.mon
	p.mon = nil
	_, err := io.WriteString(p.id, id+"\n")
	p.id.Close()
	if err == nil && p.client != nil {
		// Written before the monitor runs anything: the socket's buffer
		// takes it.
		data, _ := json.Marshal(hello)
		if WriteFrame(p.client, FrameHello, data) == nil {
			p.helloSent = true
		} else {
			p.closeClient() // the command line dials the socket instead
		}
	}
	if err != nil {
		mon.sync.Close()
		mon.cmd.Wait()
		p.closeClient()
		return nil, fmt.Errorf("monitor: send the id: %w", err)
	}
	return mon, nil
}

// ReadMonitorID reads the container id a pending monitor is sent on r
// (descriptor 4). ok is false when none came: the command line that
// started the monitor failed before it made the container, or died.
func ReadMonitorID(r io.Reader) (id string, ok bool) {
	line, err := bufio.NewReader(io.LimitReader(r, 256)).ReadString('\n')
	if err != nil {
		return "", false
	}
	id = strings.TrimSuffix(line, "\n")
	return id, id != "" && !strings.ContainsAny(id, "/ \x00")
}

// spawnMonitor starts command's monitor of id with a new sync pipe as
// descriptor 3 and extra from descriptor 4 on (a pending monitor's: the
// id pipe, and its attach client, PendingClientFD).
func spawnMonitor(ctx context.Context, command func(string, bool) *exec.Cmd, id string, waitAttach bool, extra ...*os.File) (*monitorProcess, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	cmd := command(id, waitAttach)
	cmd.ExtraFiles = append([]*os.File{w}, extra...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if env := phase.From(ctx).Env(); env != nil {
		if cmd.Env == nil {
			cmd.Env = os.Environ()
		}
		cmd.Env = append(cmd.Env, env...)
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("monitor: %w", err)
	}
	return &monitorProcess{cmd: cmd, sync: r}, nil
}
