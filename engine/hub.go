package engine

import (
	"context"
	"net"
	"os"

	"github.com/stockade/stockade/internal/monitorio"
)

// hub is the monitor's monitorio.Hub, with the names the engine's monitor
// code calls it by.
type hub struct{ *monitorio.Hub }

func newHub() *hub { return &hub{monitorio.NewHub()} }

func (h *hub) setStdin(w *os.File)              { h.SetStdin(w) }
func (h *hub) setTerminal(master *os.File)      { h.SetTerminal(master) }
func (h *hub) goServe(ln net.Listener)          { h.Go(ln) }
func (h *hub) waitStart(ctx context.Context)    { h.WaitStart(ctx) }
func (h *hub) broadcast(kind byte, data []byte) { h.Broadcast(kind, data) }
func (h *hub) exit(msg ExitMessage)             { h.Exit(msg) }
