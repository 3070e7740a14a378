package engine

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"sync"
	"time"
)

// hub fans the container's output out to attached clients and feeds their
// input to the container.
type hub struct {
	mu      sync.Mutex
	clients map[net.Conn]bool
	stdin   *os.File
	tty     bool
	start   chan struct{}
	started sync.Once
}

func newHub() *hub {
	return &hub{clients: map[net.Conn]bool{}, start: make(chan struct{})}
}

func (h *hub) setStdin(w *os.File) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stdin != nil {
		h.stdin.Close()
	}
	h.stdin = w
}

// setTerminal makes the terminal master the container's input; a client's
// end of input does not close it, and resize frames apply to it.
func (h *hub) setTerminal(master *os.File) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stdin = master
	h.tty = true
}

func (h *hub) serve(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go h.client(conn)
	}
}

func (h *hub) client(conn net.Conn) {
	kind, payload, err := ReadFrame(conn)
	if err != nil || kind != FrameHello {
		conn.Close()
		return
	}
	var hello AttachHello
	json.Unmarshal(payload, &hello)
	h.mu.Lock()
	h.clients[conn] = true
	h.mu.Unlock()
	if hello.Start {
		h.started.Do(func() { close(h.start) })
	}
	for {
		kind, payload, err := ReadFrame(conn)
		if err != nil {
			break
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
	h.mu.Lock()
	delete(h.clients, conn)
	h.mu.Unlock()
	conn.Close()
}

// waitStart blocks until a client asked to start, or for at most a minute.
func (h *hub) waitStart(ctx context.Context) {
	select {
	case <-h.start:
	case <-ctx.Done():
	case <-time.After(time.Minute):
	}
}

func (h *hub) broadcast(kind byte, data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for conn := range h.clients {
		conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if err := WriteFrame(conn, kind, data); err != nil {
			conn.Close()
			delete(h.clients, conn)
		}
	}
}

// exit tells every client the exit code and closes their connections.
func (h *hub) exit(msg ExitMessage) {
	payload, _ := json.Marshal(msg)
	h.broadcast(FrameExit, payload)
	h.mu.Lock()
	defer h.mu.Unlock()
	for conn := range h.clients {
		conn.Close()
	}
	if h.stdin != nil {
		h.stdin.Close()
	}
}
