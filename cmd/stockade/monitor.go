package main

import (
	"context"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/internal/monitorio"
)

// monitor is the hidden `monitor ID`: the per-container supervisor the
// engine starts, with the sync pipe as descriptor 3. The small idle
// monitor (stockade-monitor) execs it back, in the same process, with the
// description of the exit in $STOCKADE_RESUME (then descriptor 3 is not a
// sync pipe).
func (a *app) monitor(c *cli.Context) error {
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	e.MonitorIdleAfter = time.Duration(a.cfg.Monitor.IdleAfter)
	e.SmallMonitor = a.cfg.Monitor.Binary
	ctx := context.WithoutCancel(c.Context)
	if desc, ok := os.LookupEnv(monitorio.ResumeEnv); ok {
		os.Unsetenv(monitorio.ResumeEnv)
		return e.ResumeMonitor(ctx, desc)
	}
	syncFile := os.NewFile(3, "sync")
	id := c.Args().First()
	if id == engine.PendingMonitorID {
		// Started before its container existed (run): the id comes on
		// descriptor 4, or nothing does when the create failed.
		var ok bool
		if id, ok = engine.ReadMonitorID(os.NewFile(4, "id")); !ok {
			return nil
		}
	}
	return e.RunMonitor(ctx, id, c.Bool("wait-attach"), syncFile)
}
