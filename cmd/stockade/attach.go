package main

import (
	"context"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/stockade/stockade/engine"
)

// attach streams a container's output until it exits and returns its
// exit code as the command's. SIGINT and SIGTERM are passed on; a second
// one kills the container. conn, when not nil, is the connection to the
// monitor that run started it with (engine.AttachOptions.Conn).
func (a *app) attach(c *cli.Context, e *engine.Engine, ctr *engine.Container, start bool, conn net.Conn) error {
	// The attach must outlive the command's own cancellation on Ctrl-C.
	ctx := context.WithoutCancel(c.Context)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		n := 0
		for s := range sigs {
			sig := s.(syscall.Signal)
			if n++; n > 1 {
				sig = syscall.SIGKILL
			}
			e.Kill(ctx, ctr.ID, sig)
		}
	}()
	opts := engine.AttachOptions{Stdout: a.stdout, Stderr: a.stderr, Start: start, Conn: conn}
	if ctr.Interactive {
		opts.Stdin = a.stdin
	}
	if ctr.Terminal {
		restore, resize := a.rawTerminal()
		defer restore()
		opts.Resize = resize
	}
	code, err := e.Attach(ctx, ctr.ID, opts)
	if err != nil {
		return startExit(err)
	}
	return &exitError{code: code}
}

// rawTerminal puts stdin in raw mode when it is a terminal, and returns
// the function that restores it and a channel of window sizes (the
// current one, then one per SIGWINCH).
func (a *app) rawTerminal() (restore func(), resize <-chan [2]uint16) {
	in, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return func() {}, nil
	}
	state, err := term.MakeRaw(int(in.Fd()))
	if err != nil {
		return func() {}, nil
	}
	sizes := make(chan [2]uint16, 1)
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	send := func() {
		if w, h, err := term.GetSize(int(in.Fd())); err == nil {
			select {
			case sizes <- [2]uint16{uint16(h), uint16(w)}:
			default:
			}
		}
	}
	send()
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-winch:
				send()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(winch)
		close(done)
		term.Restore(int(in.Fd()), state)
	}, sizes
}
