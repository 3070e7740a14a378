package jail

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/internal/phase"
	"github.com/stockade/stockade/ociruntime"
)

// BenchmarkLifecycle measures the runtime's own work for one container
// (create, start, state, delete) over the recording kernel: the spec
// mapping, the mount plan, the journal and state writes, the locks and
// the fifo. On FreeBSD the system calls and the helper's exec add to it.
// Timing is off: the phase marks cost a context lookup each.
func BenchmarkLifecycle(b *testing.B) {
	bundle, _, _ := testBundle(b, nil)
	ctx := context.Background()
	r := New(b.TempDir(), newFake(), nil)
	r.KillWait = 0
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Create(ctx, "c1", ociruntime.CreateOpts{Bundle: bundle}); err != nil {
			b.Fatal(err)
		}
		if err := r.Start(ctx, "c1"); err != nil {
			b.Fatal(err)
		}
		if _, err := r.State(ctx, "c1"); err != nil {
			b.Fatal(err)
		}
		if err := r.Delete(ctx, "c1", true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLifecyclePhases times the phases of a create, start, kill and
// delete over the recording kernel, which makes the kernel's part free:
// what is left is the runtime's own cost (the spec, the plans, the state
// directory, the journal writes, the fifo) by phase. The state root is a
// temporary directory (TMPDIR).
//
// Each phase's cost per lifecycle (the sum of its records: a lifecycle
// mounts three times) is reported as a metric, the median over the
// iterations, in ns/op; its unit is the phase's place in the lifecycle
// and its name, with dots for spaces ("09.create.nmount-ns/op"), so that
// the metrics, printed sorted by unit, come in the order the phases ran.
// test/bench/jail-phases.sh prints them as a table.
func BenchmarkLifecyclePhases(b *testing.B) {
	bundle, _, _ := testBundle(b, nil)
	ctx := context.Background()
	r := New(b.TempDir(), newFake(), nil)
	r.KillWait = 0
	var phases phase.Series
	b.ReportAllocs()
	for b.Loop() {
		timer := phase.New(ProcName)
		if err := lifecycle(phase.With(ctx, timer), r, bundle); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		phases.AddRun(timer.Records())
		b.StartTimer()
	}
	for i, name := range phases.Names() {
		b.ReportMetric(float64(phases.Median(name)), fmt.Sprintf("%02d.%s-ns/op", i+1, strings.ReplaceAll(name, " ", ".")))
	}
}

// BenchmarkDelete measures Delete of a created container over the
// recording kernel, when the kernel tears things down at once and when it
// takes a moment, as it does on FreeBSD: the killed process is still in
// the process table at the first look, or the removed jail is still dying.
func BenchmarkDelete(b *testing.B) {
	for _, bc := range []struct {
		name         string
		killLinger   int
		dyingLookups int
	}{
		{name: "at-once"},
		{name: "process-lingers", killLinger: 1},
		{name: "jail-dying", dyingLookups: 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bundle, _, _ := testBundle(b, func(s *specs.Spec) { s.Root.Readonly = true })
			ctx := context.Background()
			k := newFake()
			r := New(b.TempDir(), k, nil)
			r.KillWait = 10 * time.Second
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				k.killLinger, k.dyingLookups = 0, 0
				if err := r.Create(ctx, "c1", ociruntime.CreateOpts{Bundle: bundle}); err != nil {
					b.Fatal(err)
				}
				k.killLinger, k.dyingLookups = bc.killLinger, bc.dyingLookups
				b.StartTimer()
				if err := r.Delete(ctx, "c1", true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
