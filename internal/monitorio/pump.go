package monitorio

import (
	"errors"
	"io"
	"os"
	"time"
)

// A Pump copies one of the container's output streams (a pipe's read end
// or a terminal master) into the log and to the attach clients.
type Pump struct {
	r     *os.File
	lw    io.WriteCloser
	hub   *Hub
	kind  byte
	done  chan struct{}
	ended bool // the stream ended (EOF, EIO): r is closed
	// stoppable tells that Stop can interrupt the pump (see Stoppable),
	// found before it started.
	stoppable bool
}

// DefaultPumpBuffer is the read size of NewPump.
const DefaultPumpBuffer = 32 << 10

// NewPump starts copying r to log's stream ("stdout" or "stderr") and to
// the hub's clients as frames of kind, reading up to DefaultPumpBuffer
// bytes at a time.
func NewPump(r *os.File, log *LogWriter, stream string, hub *Hub, kind byte) *Pump {
	return NewPumpSize(r, log, stream, hub, kind, DefaultPumpBuffer)
}

// NewPumpSize is NewPump with reads of up to size bytes: the small
// monitor, idle by definition, reads less at a time to hold less.
func NewPumpSize(r *os.File, log *LogWriter, stream string, hub *Hub, kind byte, size int) *Pump {
	p := &Pump{r: r, lw: log.Stream(stream), hub: hub, kind: kind, done: make(chan struct{}), stoppable: Stoppable(r)}
	go p.run(size)
	return p
}

func (p *Pump) run(size int) {
	defer close(p.done)
	buf := make([]byte, max(size, 512))
	for {
		n, err := p.r.Read(buf)
		if n > 0 {
			p.lw.Write(buf[:n])
			p.hub.Broadcast(p.kind, buf[:n])
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return // Stop: what is still in the pipe stays there
		}
		if err != nil {
			p.ended = true
			p.r.Close()
			p.lw.Close()
			return // EOF; EIO from a terminal once the last slave closed
		}
	}
}

// Done is closed when the pump stopped.
func (p *Pump) Done() <-chan struct{} { return p.done }

// Stoppable reports whether Stop can interrupt the pump: its file must be
// pollable (non-blocking), as pipes made by os.Pipe are.
func Stoppable(f *os.File) bool {
	return f.SetReadDeadline(time.Time{}) == nil
}

// Stop makes the pump return at a clean point: whatever it read is in the
// log and sent to the clients, and what it did not read stays in the
// pipe. A partial last line is logged as an entry of its own. It returns
// the file, with its deadline cleared, or nil when the stream had ended.
func (p *Pump) Stop() *os.File {
	p.r.SetReadDeadline(time.Unix(1, 0))
	<-p.done
	if p.ended {
		return nil
	}
	p.lw.Close()
	p.r.SetReadDeadline(time.Time{})
	return p.r
}

// Stoppable reports whether Stop can interrupt this pump (see
// Stoppable), whether or not its stream has ended since.
func (p *Pump) Stoppable() bool { return p.stoppable }
