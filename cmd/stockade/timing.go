package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/internal/phase"
)

// startTiming puts a phase timer in the command's context when
// --debug-timing is set; the container's monitor joins it through a
// temporary file (see phase.Timer.Share).
func (a *app) startTiming(c *cli.Context) {
	if !c.Bool("debug-timing") {
		return
	}
	if a.timing == nil { // else main began it (startRunMonitor)
		a.timing = newTiming()
	}
	a.timing.Mark("command line")
	c.Context = phase.With(c.Context, a.timing)
}

// newTiming returns the command's phase timer, whose first phase is the
// exec and initialisation when STOCKADE_PHASE_START says when the
// command started.
func newTiming() *phase.Timer {
	t := phase.New("cli")
	t.StartedBy("exec and init (from " + phase.EnvStart + ")")
	if f, err := os.CreateTemp("", "stockade-phases-*"); err == nil {
		f.Close()
		t.Share(f.Name())
	}
	return t
}

// stopTiming prints the phases of the command and of the monitors it
// started to stderr, and removes the shared file.
func (a *app) stopTiming() {
	if a.timing == nil {
		return
	}
	a.timing.Mark("exit")
	if err := a.timing.Collect(); err != nil && a.log != nil {
		a.log.Warn("debug timing", "error", err)
	}
	if file := a.timing.File(); file != "" {
		os.Remove(file)
	}
	a.timing.Write(a.stderr)
}
