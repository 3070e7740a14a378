package network

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// BenchmarkLifecycle is the portable model's own cost per container
// (create, start, stop, remove over the recording driver, with its
// metadata transactions and files): what the network adds to a `run`
// before the driver's work.
func BenchmarkLifecycle(b *testing.B) {
	m, _, _ := newManager(b, BeforeCreate)
	m.StartDNS = nil
	ctx := b.Context()
	for b.Loop() {
		c := newContainer(b, "bench", Options{Publish: []string{"127.0.0.1::80"}})
		if err := m.Create(ctx, c, &specs.Spec{}); err != nil {
			b.Fatal(err)
		}
		if err := m.Prestart(ctx, c); err != nil {
			b.Fatal(err)
		}
		m.Stopped(ctx, c)
		if err := m.Remove(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}
