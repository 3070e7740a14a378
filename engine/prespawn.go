package engine

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"

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
	mon, err := spawnMonitor(ctx, command, PendingMonitorID, waitAttach, idR)
	idR.Close()
	if err != nil {
		idW.Close()
		return nil, err
	}
	return &PendingMonitor{waitAttach: waitAttach, mon: mon, id: idW}, nil
}

// Close ends a monitor that was not handed to StartWith (a create that
// failed); after StartWith it does nothing.
func (p *PendingMonitor) Close() {
	if p == nil || p.mon == nil {
		return
	}
	p.id.Close() // the monitor reads no id and exits
	p.mon.sync.Close()
	p.mon.cmd.Wait()
	p.mon = nil
}

// take hands the monitor to StartWith with the container's id.
func (p *PendingMonitor) take(id string) (*monitorProcess, error) {
	mon := p.mon
	p.mon = nil
	_, err := io.WriteString(p.id, id+"\n")
	p.id.Close()
	if err != nil {
		mon.sync.Close()
		mon.cmd.Wait()
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

// spawnMonitor starts command's monitor of id (PendingMonitorID: read
// from idPipe, its descriptor 4) with a new sync pipe as descriptor 3.
func spawnMonitor(ctx context.Context, command func(string, bool) *exec.Cmd, id string, waitAttach bool, idPipe *os.File) (*monitorProcess, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	cmd := command(id, waitAttach)
	cmd.ExtraFiles = []*os.File{w}
	if idPipe != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, idPipe)
	}
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
