//go:build !lean

package image

import (
	"context"
	"io"
	"os"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// progress shows one bar per blob transfer, or nothing.
type progress interface {
	// bar adds a bar for a transfer of total bytes.
	bar(label string, total int64) progressBar
	// wait draws the final state; all bars must be finished first.
	wait()
}

// progressBar is one transfer's bar.
type progressBar interface {
	// set moves the bar to n bytes (a resumed transfer starts there).
	set(n int64)
	// add advances the bar by n bytes.
	add(n int64)
	// finish completes the bar, or aborts it when err is not nil.
	finish(err error)
}

// newProgress returns mpb bars when w is a terminal and no-ops otherwise.
func newProgress(ctx context.Context, w io.Writer) progress {
	f, ok := w.(*os.File)
	if !ok || f == nil || !term.IsTerminal(int(f.Fd())) {
		return noProgress{}
	}
	return &mpbProgress{p: mpb.NewWithContext(ctx, mpb.WithOutput(w), mpb.WithWidth(40))}
}

type noProgress struct{}

func (noProgress) bar(string, int64) progressBar { return noProgress{} }
func (noProgress) wait()                         {}
func (noProgress) set(int64)                     {}
func (noProgress) add(int64)                     {}
func (noProgress) finish(error)                  {}

type mpbProgress struct{ p *mpb.Progress }

func (m *mpbProgress) bar(label string, total int64) progressBar {
	b := m.p.AddBar(max(total, 1),
		mpb.PrependDecorators(decor.Name(label, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(
			decor.OnComplete(decor.OnAbort(decor.CountersKibiByte("% .1f / % .1f", decor.WCSyncSpace), "failed"), "done"),
		),
	)
	return &mpbBar{b: b, total: max(total, 1)}
}

func (m *mpbProgress) wait() { m.p.Wait() }

type mpbBar struct {
	b     *mpb.Bar
	total int64
}

func (b *mpbBar) set(n int64) { b.b.SetCurrent(n) }
func (b *mpbBar) add(n int64) { b.b.IncrInt64(n) }
func (b *mpbBar) finish(err error) {
	if err != nil {
		b.b.Abort(false)
		return
	}
	b.b.SetCurrent(b.total)
}
