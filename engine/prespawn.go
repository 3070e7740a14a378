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
	"github.com/stockade/stockade/snapshot"
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
	// ready is closed once the process is started (mon) or could not be
	// (spawnErr): the fork and exec run on a goroutine of their own, so
	// that the command line goes on meanwhile.
	ready    chan struct{}
	mon      *monitorProcess
	spawnErr error
	taken    bool
	id       *os.File // write end of the id pipe
	// client is the command line's end of the attach connection a
	// monitor that waits for its attach is started with (descriptor 5 is
	// the other end): StartWith sends its hello with the id, so the
	// monitor starts the process without waiting for the command line
	// to connect (TakeAttach).
	client  *os.File
	created *Container // what the command line made (Created)
	// reserved is the id sent ahead of the start (Reserved).
	reserved string
}

// MonitorStart is what a monitor starts from besides the container's id.
// A monitor that a command line spawned beforehand (SpawnMonitor) gets
// it from there (PendingReader).
type MonitorStart struct {
	// WaitAttach holds the process until the first attach client's hello
	// (Start).
	WaitAttach bool `json:"-"`
	// Client is an attach client connected already (PendingClient).
	Client net.Conn `json:"-"`
	// Record is the container's record as the command line read it just
	// before: the monitor need not read it. Nil: it reads it.
	Record *Container `json:"record,omitempty"`
	// CommandChecked says that the create checked the command against
	// the root the monitor runs (CreateOptions.KeepRootMounted): the
	// first run need not check it again.
	CommandChecked bool `json:"commandChecked,omitempty"`
	// Prepared is what the monitor made for the container while its
	// create went on (PrepareMonitor); nil: RunMonitor makes it.
	Prepared *MonitorPrep `json:"-"`
	// RootMounts are the mounts of the root the create left mounted
	// (CreateOptions.KeepRootMounted): the monitor takes that mount over
	// without reading the snapshotter's store. Nil: it reads them.
	RootMounts []snapshot.Mount `json:"rootMounts,omitempty"`
	// Detach says that the command line does not attach (run -d) although
	// it spawned the monitor able to wait for its attach, before it knew
	// (SpawnMonitor): the monitor neither waits for an attach nor keeps
	// its first client.
	Detach bool `json:"detach,omitempty"`
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
// It returns once the pipes are made; the process is started on a
// goroutine, and a failure to start it is StartWith's error. Close it
// when it is not handed to StartWith: it then exits having done nothing.
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
	p := &PendingMonitor{waitAttach: waitAttach, ready: make(chan struct{}), id: idW, client: client}
	go func() {
		defer close(p.ready)
		p.mon, p.spawnErr = spawnMonitor(ctx, command, PendingMonitorID, waitAttach, extra...)
		for _, f := range extra {
			f.Close()
		}
	}()
	return p, nil
}

// socketPair returns the two ends of a connected unix stream socket.
func socketPair() (*os.File, *os.File, error) {
	// Close-on-exec as the os package makes its descriptors: set under
	// the fork lock, so no child started meanwhile inherits them.
	syscall.ForkLock.RLock()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err == nil {
		unix.CloseOnExec(fds[0])
		unix.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
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
// caller closes it. Call it after StartWith succeeded. (take closes the
// connection whenever the hello did not go.)
func (p *PendingMonitor) TakeAttach() net.Conn {
	if p == nil || !p.taken || p.client == nil {
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
	<-p.ready
	if !p.taken {
		p.taken = true
		p.id.Close() // the monitor reads no id and exits
		if p.mon != nil {
			p.mon.sync.Close()
			p.mon.cmd.Wait()
		}
	}
	p.closeClient() // not taken by an attach
}

func (p *PendingMonitor) closeClient() {
	if p.client != nil {
		p.client.Close()
		p.client = nil
	}
}

// Reserved sends the pending monitor the id of the container it is to
// run as soon as the create has reserved it, ahead of the rest (take):
// the monitor takes the container's lock, listens on its attach socket
// and opens its log (PrepareMonitor) while the create goes on. A create
// that fails after it must Close the monitor, which waits for it to undo
// that, before the container's directories are removed. It does nothing
// on a nil, taken or unstarted monitor, or after an id was sent.
func (p *PendingMonitor) Reserved(id string) {
	if p == nil {
		return
	}
	<-p.ready
	if p.taken || p.spawnErr != nil || p.reserved != "" {
		return
	}
	if _, err := io.WriteString(p.id, id+"\n"); err != nil {
		return // take's write fails too, and says so
	}
	p.reserved = id
}

// Created tells the pending monitor the container the command line
// made for it (Create's result): its start then skips what the create
// did (see MonitorStart).
func (p *PendingMonitor) Created(c *Container) {
	if p != nil {
		p.created = c
	}
}

// take hands the monitor to StartWith with the container c, and on the
// attach connection, when there is one, hello: the command line's attach
// (TakeAttach) then continues the connection from there.
func (p *PendingMonitor) take(c *Container, hello AttachHello, waitAttach bool) (*monitorProcess, error) {
	<-p.ready
	p.taken = true
	if p.spawnErr != nil {
		p.id.Close()
		p.closeClient()
		return nil, p.spawnErr
	}
	mon := p.mon
	msg := c.ID + "\n"
	switch p.reserved {
	case "":
	case c.ID:
		msg = "" // sent by Reserved
	default:
		p.id.Close() // the monitor made another container's files: it undoes them
		mon.sync.Close()
		mon.cmd.Wait()
		p.closeClient()
		return nil, fmt.Errorf("monitor: prepared for container %s, not %s", shortID(p.reserved), shortID(c.ID))
	}
	start := MonitorStart{Detach: p.waitAttach && !waitAttach}
	if p.created != nil && p.created.ID == c.ID {
		start.Record, start.CommandChecked, start.RootMounts = c, p.created.commandChecked, p.created.rootMounts
	}
	data, err := json.Marshal(start)
	if err != nil {
		// A record that does not encode is read from the store.
		start.Record, start.CommandChecked, start.RootMounts = nil, false, nil
		if data, err = json.Marshal(start); err != nil {
			data = []byte("{}")
		}
	}
	// Always a line: an id without one is a create that failed.
	msg += string(data) + "\n"
	if start.Detach {
		p.closeClient()
	}
	_, err = io.WriteString(p.id, msg)
	p.id.Close()
	if err == nil && p.client != nil {
		// Written before the monitor runs anything: the socket's buffer
		// takes it.
		data, _ := json.Marshal(hello)
		if WriteFrame(p.client, FrameHello, data) != nil {
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

// maxPendingStart bounds what a pending monitor reads on descriptor 4.
const maxPendingStart = 4 << 20

// PendingReader reads what a pending monitor is sent on descriptor 4:
// the container's id on a line (ID), sent as soon as the create has
// reserved it (PendingMonitor.Reserved), then the record and what the
// create did as a JSON MonitorStart on a line (Start), once the create
// is done.
type PendingReader struct {
	br *bufio.Reader
	id string
}

// NewPendingReader reads r (descriptor 4).
func NewPendingReader(r io.Reader) *PendingReader {
	return &PendingReader{br: bufio.NewReader(io.LimitReader(r, maxPendingStart))}
}

// ID reads the container's id. ok is false when none came: the command
// line that started the monitor failed before it reserved a container,
// or died.
func (r *PendingReader) ID() (id string, ok bool) {
	line, err := r.br.ReadString('\n')
	if err != nil {
		return "", false
	}
	id = strings.TrimSuffix(line, "\n")
	if len(id) > 255 || id == "" || strings.ContainsAny(id, "/ \x00") {
		return "", false
	}
	r.id = id
	return id, true
}

// Start reads the start message that follows the id. ok is false when
// the line did not come: the create failed after the id was sent, and
// the monitor undoes what it prepared. A record that does not decode,
// or is another container's, is left out (the monitor reads the store).
func (r *PendingReader) Start() (start MonitorStart, ok bool) {
	data, err := r.br.ReadBytes('\n')
	if err != nil {
		return MonitorStart{}, false
	}
	if json.Unmarshal(data, &start) != nil {
		start = MonitorStart{}
	}
	if start.Record != nil && start.Record.ID != r.id {
		start.Record, start.CommandChecked, start.RootMounts = nil, false, nil
	}
	return start, true
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
