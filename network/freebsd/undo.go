package freebsd

import (
	"context"
	"log/slog"
)

// undo is the list of what to take back if a multi-step operation fails
// part way: each step that made something pushes how to remove it, and
// rollback removes in reverse order, so that a failure leaves nothing.
type undo struct {
	steps []func(context.Context) error
}

func (u *undo) push(f func(context.Context) error) { u.steps = append(u.steps, f) }

// cmd pushes a command that takes a step back.
func (u *undo) cmd(h Host, argv ...string) {
	u.push(func(ctx context.Context) error {
		_, err := run(ctx, h, argv...)
		if gone(err) {
			return nil
		}
		return err
	})
}

// replace changes the last step (an interface renamed: destroy it by its
// new name).
func (u *undo) replaceCmd(h Host, argv ...string) {
	u.steps = u.steps[:len(u.steps)-1]
	u.cmd(h, argv...)
}

// rollback runs the steps in reverse order; a step that fails is logged
// and the others still run (Check finds what stays).
func (u *undo) rollback(ctx context.Context, log *slog.Logger) {
	ctx = context.WithoutCancel(ctx)
	for i := len(u.steps) - 1; i >= 0; i-- {
		if err := u.steps[i](ctx); err != nil {
			log.Warn("network rollback", "err", err)
		}
	}
	u.steps = nil
}
