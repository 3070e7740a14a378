package jail

import (
	"context"
	"time"

	"github.com/stockade/stockade/internal/phase"
)

// ProcName is the process name the runtime's phases carry when it times
// itself for a parent (phase.FromEnv): "runtime".
const ProcName = "runtime"

// timing returns ctx carrying the timer that op's phases go to, and the
// function to call when op ends.
//
// A caller that times itself (phase.With) gets the phases in its own
// timer. Otherwise the runtime joins the timing of the process that
// started it, when that one asked for it through the environment
// (phase.Env: STOCKADE_PHASE_FILE, as the engine's monitor does): the
// first operation takes the variables (phase.FromEnv), marks startup (the
// time from the parent's start of this process, its exec, package
// initialisation and command line, to the runtime's first call), and
// every operation appends its phases to the file when it ends. Without
// either, the marks cost one context lookup each.
func (r *Runtime) timing(ctx context.Context, startup string) (context.Context, func()) {
	if phase.From(ctx) != nil {
		return ctx, func() {}
	}
	r.envTimer.Do(func() {
		r.timer = phase.FromEnv(ProcName)
		r.timer.Mark(startup)
	})
	if r.timer == nil {
		return ctx, func() {}
	}
	return phase.With(ctx, r.timer), r.flushTiming
}

// flushTiming appends the phases recorded so far to the parent's file.
func (r *Runtime) flushTiming() {
	if err := r.timer.Flush(); err != nil {
		r.log.Warn("phase timings", "err", err)
	}
}

// Polling bounds of the waits for the kernel to finish what it does
// asynchronously (a killed process to exit, a removed jail to go): the
// first check is again after pollFirst, each later one after twice the
// time before, up to the wait's own ceiling, so that the common case (gone
// within a millisecond) is not charged a whole poll period.
const pollFirst = time.Millisecond

// poller paces a wait: next returns how long to sleep before the next
// check, doubling from pollFirst up to ceiling.
type poller struct {
	cur, ceiling time.Duration
}

func newPoller(ceiling time.Duration) *poller {
	return &poller{cur: min(pollFirst, ceiling), ceiling: ceiling}
}

// next returns the pause before the next check.
func (p *poller) next() time.Duration {
	d := p.cur
	p.cur = min(2*p.cur, p.ceiling)
	return d
}
