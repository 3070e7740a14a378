package monitorio

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

// Hub fans the container's output out to attached clients and feeds their
// input to the container.
type Hub struct {
	mu      sync.Mutex
	clients map[net.Conn]*AttachHello // nil until the client's hello came
	stdin   *os.File
	tty     bool
	start   chan struct{}
	started sync.Once
	readers sync.WaitGroup // the clients' read loops
	serving chan struct{}  // closed when Serve returns
}

// NewHub returns a hub without clients.
func NewHub() *Hub {
	return &Hub{clients: map[net.Conn]*AttachHello{}, start: make(chan struct{})}
}

// SetStdin makes w the container's standard input; a client's end of input
// closes it.
func (h *Hub) SetStdin(w *os.File) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stdin != nil {
		h.stdin.Close()
	}
	h.stdin = w
}

// SetTerminal makes the terminal master the container's input; a client's
// end of input does not close it, and resize frames apply to it.
func (h *Hub) SetTerminal(master *os.File) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stdin = master
	h.tty = true
}

// Stdin returns the container's input set by SetStdin or SetTerminal.
func (h *Hub) Stdin() *os.File {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stdin
}

// Serve accepts clients on ln until ln is closed or its deadline passes
// (see Pause).
func (h *Hub) Serve(ln net.Listener) {
	h.serve(ln, h.serveStarts())
}

// Go is Serve in a goroutine of its own; a Pause right after it returns
// stops that goroutine too.
func (h *Hub) Go(ln net.Listener) {
	go h.serve(ln, h.serveStarts())
}

// serveStarts records that a Serve starts and returns what it closes when
// it returns.
func (h *Hub) serveStarts() chan struct{} {
	done := make(chan struct{})
	h.mu.Lock()
	h.serving = done
	h.mu.Unlock()
	return done
}

func (h *Hub) serve(ln net.Listener, done chan struct{}) {
	defer close(done)
	for {
		conn, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient accept error (EMFILE...): try again shortly.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		h.Adopt(conn, nil)
	}
}

// deadliner is a listener or connection whose deadline can be set.
type deadliner interface{ SetDeadline(time.Time) error }

// Pause makes Serve, running on ln, return, leaving new connections in
// ln's backlog for whoever serves it next. It returns an error when ln
// has no deadlines or Serve does not run.
func (h *Hub) Pause(ln net.Listener) error {
	d, ok := ln.(deadliner)
	if !ok {
		return errors.New("attach listener has no deadline")
	}
	h.mu.Lock()
	done := h.serving
	h.mu.Unlock()
	if done == nil {
		return errors.New("attach listener is not served")
	}
	if err := d.SetDeadline(time.Unix(1, 0)); err != nil {
		return err
	}
	<-done
	return d.SetDeadline(time.Time{})
}

// Adopt serves conn as a client. A nil hello reads the client's hello
// frame first; a client handed over by the other monitor comes with the
// hello it sent.
func (h *Hub) Adopt(conn net.Conn, hello *AttachHello) {
	h.mu.Lock()
	h.clients[conn] = hello
	h.mu.Unlock()
	h.readers.Add(1)
	go h.client(conn, hello)
}

// AdoptFirst adopts conn, a client whose hello was sent before the
// monitor started (a run's first client, sent with the container's id):
// the hello is read here, on the caller's goroutine, so that WaitStart
// need not wait for the client's goroutine to be scheduled (a wake-up of
// another thread, up to a millisecond on a busy host). A hello not there
// within wait is read by that goroutine, as Adopt does; a connection
// that breaks first is dropped.
func (h *Hub) AdoptFirst(conn net.Conn, wait time.Duration) {
	conn.SetReadDeadline(time.Now().Add(wait))
	hello, err := readHello(conn)
	conn.SetReadDeadline(time.Time{})
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		// Nothing came: a frame is written whole, in one write.
		h.Adopt(conn, nil)
	case err != nil:
		conn.Close()
	default:
		h.Adopt(conn, hello)
		h.askedStart(hello)
	}
}

// errNoHello is a client's first frame that is not its hello.
var errNoHello = errors.New("attach: the first frame is not a hello")

// readHello reads a client's hello frame.
func readHello(conn net.Conn) (*AttachHello, error) {
	kind, payload, err := ReadFrame(conn)
	if err != nil {
		return nil, err
	}
	if kind != FrameHello {
		return nil, errNoHello
	}
	hello := new(AttachHello)
	json.Unmarshal(payload, hello)
	return hello, nil
}

// askedStart lets WaitStart return when hello asks for the start.
func (h *Hub) askedStart(hello *AttachHello) {
	if hello.Start {
		h.started.Do(func() { close(h.start) })
	}
}

func (h *Hub) client(conn net.Conn, hello *AttachHello) {
	defer h.readers.Done()
	if hello == nil {
		var err error
		if hello, err = readHello(conn); err != nil {
			h.drop(conn, err)
			return
		}
		h.mu.Lock()
		h.clients[conn] = hello
		h.mu.Unlock()
		h.askedStart(hello)
	}
	for {
		kind, payload, err := ReadFrame(conn)
		if err != nil {
			h.drop(conn, err)
			return
		}
		h.mu.Lock()
		w, tty := h.stdin, h.tty
		h.mu.Unlock()
		if w == nil {
			continue
		}
		switch {
		case kind == FrameResize && tty:
			if rows, cols, err := ParseResize(payload); err == nil {
				SetTerminalSize(w, rows, cols)
			}
		case kind == FrameStdin && hello.Stdin:
			w.Write(payload)
		case kind == FrameStdinClose && hello.Stdin && !tty:
			w.Close()
		}
	}
}

// drop forgets a client whose read loop ended, unless the loop ended for
// Detach (a deadline), which keeps the connection for the next monitor.
func (h *Hub) drop(conn net.Conn, err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return
	}
	h.mu.Lock()
	delete(h.clients, conn)
	h.mu.Unlock()
	conn.Close()
}

// Clients is the number of connected clients, those that have not sent
// their hello yet included.
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// WaitStart blocks until a client asked to start, or for at most a minute.
func (h *Hub) WaitStart(ctx context.Context) {
	select {
	case <-h.start:
	case <-ctx.Done():
	case <-time.After(time.Minute):
	}
}

// Broadcast sends one frame to every client that said hello; a client
// that cannot take it within 5 s is dropped.
func (h *Hub) Broadcast(kind byte, data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for conn, hello := range h.clients {
		if hello == nil {
			continue
		}
		conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if err := WriteFrame(conn, kind, data); err != nil {
			conn.Close()
			delete(h.clients, conn)
		}
	}
}

// Exit tells every client the exit code and closes their connections and
// the container's input.
func (h *Hub) Exit(msg ExitMessage) {
	payload, _ := json.Marshal(msg)
	h.Broadcast(FrameExit, payload)
	h.mu.Lock()
	defer h.mu.Unlock()
	for conn := range h.clients {
		conn.Close()
	}
	clear(h.clients)
	if h.stdin != nil {
		h.stdin.Close()
	}
}

// Detached is a client taken from a hub by Detach.
type Detached struct {
	Conn net.Conn
	// Hello is the client's hello, nil when it had not come yet.
	Hello *AttachHello
}

// Detach stops reading from the clients and takes them from the hub, for
// a handover to the other monitor. Serve must not run (see Pause). A frame
// a client was in the middle of sending is lost (the container has exited
// when the small monitor detaches its clients).
func (h *Hub) Detach() []Detached {
	h.mu.Lock()
	for conn := range h.clients {
		conn.SetReadDeadline(time.Unix(1, 0))
	}
	h.mu.Unlock()
	h.readers.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Detached, 0, len(h.clients))
	for conn, hello := range h.clients {
		conn.SetReadDeadline(time.Time{})
		out = append(out, Detached{Conn: conn, Hello: hello})
	}
	clear(h.clients)
	return out
}
