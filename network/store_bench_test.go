package network

import (
	"fmt"
	"net/netip"
	"testing"
)

// BenchmarkLeaseAtScale is one container's lease taken and released on a
// network that already holds n: what a networked create and removal pay
// in the store. The release finds the lease by its key
// (ReleaseEndpoints); Take still reads every lease (the ports the other
// containers hold, the container's own from a create run again) and
// looks for the lowest free address, so its cost grows with n.
func BenchmarkLeaseAtScale(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("leases=%d", n), func(b *testing.B) {
			s := newStore(b)
			ctx := b.Context()
			if _, err := s.Create(ctx, CreateOptions{Name: "lan", Subnet: netip.MustParsePrefix("10.1.0.0/16")}, nil); err != nil {
				b.Fatal(err)
			}
			for i := range n {
				r := LeaseRequest{Network: "lan", ContainerID: fmt.Sprintf("held%04d", i), ContainerName: fmt.Sprintf("held%d", i)}
				if _, _, _, _, err := s.Take(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				r := LeaseRequest{Network: "lan", ContainerID: "bench", ContainerName: "bench"}
				nw, a, _, _, err := s.Take(ctx, r)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.ReleaseEndpoints(ctx, "bench", []Endpoint{{Network: "lan", Addr: a}}, []*Network{nw}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
