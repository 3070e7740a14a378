package network

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/metadata"
)

func newStore(t testing.TB) *Store {
	t.Helper()
	db, err := metadata.Open(t.Context(), filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	return &Store{DB: db}
}

func mustCreate(t *testing.T, s *Store, o CreateOptions) *Network {
	t.Helper()
	n, err := s.Create(t.Context(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCreateNetwork(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	n := mustCreate(t, s, CreateOptions{Name: "front", Subnet: netip.MustParsePrefix("10.50.0.0/24")})
	if n.Gateway.String() != "10.50.0.1" || n.Interface != "stk-"+n.ID[:8] || n.Driver != "bridge" || n.Subnet6.IsValid() {
		t.Fatalf("network = %+v", n)
	}
	auto := mustCreate(t, s, CreateOptions{Name: "back", IPv6: true})
	if auto.Subnet.String() != "10.89.0.0/24" || auto.Subnet6.Bits() != 64 || auto.Subnet6.Addr().As16()[0] != 0xfd || !auto.Gateway6.IsValid() {
		t.Fatalf("chosen subnets = %+v", auto)
	}
	for _, tc := range []struct {
		o    CreateOptions
		want string
	}{
		{CreateOptions{Name: "front"}, "network front: already exists"},
		{CreateOptions{Name: "x", Subnet: netip.MustParsePrefix("10.50.0.128/25")}, "subnet 10.50.0.128/25: overlaps network front's 10.50.0.0/24"},
		{CreateOptions{Name: "x", Subnet: netip.MustParsePrefix("10.0.0.0/8")}, "overlaps network"},
		{CreateOptions{Name: "x", Subnet: netip.MustParsePrefix("10.51.0.0/24"), Gateway: netip.MustParseAddr("10.52.0.1")}, "gateway 10.52.0.1: not a host address of subnet 10.51.0.0/24"},
		{CreateOptions{Name: "x", Gateway: netip.MustParseAddr("10.52.0.1")}, "--gateway 10.52.0.1 needs --subnet"},
		{CreateOptions{Name: "x", Subnet6: auto.Subnet6}, "overlaps network back's"},
		{CreateOptions{Name: "bridge"}, "reserved"},
		{CreateOptions{Name: "a/b"}, `network name "a/b"`},
	} {
		_, err := s.Create(ctx, tc.o, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Create(%+v) = %v; want %q", tc.o, err, tc.want)
		}
	}
	all, err := s.List(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("after bad creates: %d networks, %v", len(all), err)
	}
	if got, err := s.Get(ctx, n.ID[:12]); err != nil || got.Name != "front" {
		t.Fatalf("Get by id prefix = %v, %v", got, err)
	}
	if _, err := s.Get(ctx, "nope"); err == nil || err.Error() != "network nope: no such network" {
		t.Fatalf("Get(nope) = %v", err)
	}
}

func TestEnsureDefault(t *testing.T) {
	s := newStore(t)
	routes := RouteList(prefixes("0.0.0.0/0", "10.88.0.0/16", "192.168.1.0/24"))
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Go(func() {
			n, err := s.EnsureDefault(t.Context(), routes)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = n.ID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("parallel first uses made different default networks: %v", ids)
		}
	}
	n, _ := s.Get(t.Context(), DefaultName)
	if !n.Default || n.Interface != "stk-"+n.ID[:8] || n.Subnet.String() != "10.89.0.0/16" {
		t.Fatalf("default network = %+v", n)
	}
}

func TestLeases(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	n := mustCreate(t, s, CreateOptions{Name: "small", Subnet: netip.MustParsePrefix("10.60.0.0/29")})
	// Five host addresses (.1-.6 less the gateway .1).
	var got []string
	for i := range 5 {
		_, a, _, _, err := s.Take(ctx, LeaseRequest{Network: "small", ContainerID: fmt.Sprint("c", i), ContainerName: fmt.Sprint("n", i)})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.String())
	}
	if strings.Join(got, " ") != "10.60.0.2/29 10.60.0.3/29 10.60.0.4/29 10.60.0.5/29 10.60.0.6/29" {
		t.Fatalf("leases = %v", got)
	}
	if _, _, _, _, err := s.Take(ctx, LeaseRequest{Network: "small", ContainerID: "c9"}); err == nil || err.Error() != "network small: no free address left in 10.60.0.0/29" {
		t.Fatalf("exhausted: %v", err)
	}
	// A create run again gets its own lease back.
	if _, a, _, _, err := s.Take(ctx, LeaseRequest{Network: "small", ContainerID: "c3"}); err != nil || a.String() != "10.60.0.5/29" {
		t.Fatalf("again: %v, %v", a, err)
	}
	if users, _ := s.Users(ctx, n); strings.Join(users, ",") != "n0,n1,n2,n3,n4" {
		t.Fatalf("users = %v", users)
	}
	if _, err := s.Delete(ctx, "small"); err == nil || err.Error() != "network small: in use by n0, n1, n2, n3, n4" {
		t.Fatalf("rm in use: %v", err)
	}
	if c, err := s.Release(ctx, "c2"); err != nil || c != 1 {
		t.Fatalf("Release = %d, %v", c, err)
	}
	// A container without leases (--network none) writes nothing: no
	// transaction is committed, so the file's transaction id stays.
	txid := func() (id int) {
		s.DB.View(ctx, func(tx *bolt.Tx) error { id = tx.ID(); return nil })
		return id
	}
	before := txid()
	if c, err := s.Release(ctx, "none"); err != nil || c != 0 {
		t.Fatalf("Release of none = %d, %v", c, err)
	}
	if after := txid(); after != before {
		t.Fatalf("Release of a container without leases committed (tx %d -> %d)", before, after)
	}
	if c, _ := s.Release(ctx, "c2"); c != 0 {
		t.Fatalf("second Release = %d", c)
	}
	if _, a, _, _, err := s.Take(ctx, LeaseRequest{Network: "small", ContainerID: "c10"}); err != nil || a.String() != "10.60.0.4/29" {
		t.Fatalf("freed address not reused: %v, %v", a, err)
	}
	for _, tc := range []struct {
		ip, want string
	}{
		{"10.60.0.3", "--ip 10.60.0.3: already in use on network small"},
		{"10.61.0.3", "--ip 10.61.0.3: not a free host address of network small's subnet 10.60.0.0/29"},
		{"10.60.0.1", "not a free host address"},
		{"10.60.0.7", "not a free host address"},
	} {
		_, _, _, _, err := s.Take(ctx, LeaseRequest{Network: "small", ContainerID: "x", Addr: netip.MustParseAddr(tc.ip)})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--ip %s: %v; want %q", tc.ip, err, tc.want)
		}
	}
	if _, _, _, _, err := s.Take(ctx, LeaseRequest{Network: "nope", ContainerID: "x"}); err == nil || err.Error() != "network nope: no such network" {
		t.Fatalf("unknown network: %v", err)
	}
	ls, _ := s.Leases(ctx)
	if len(ls) != 5 {
		t.Fatalf("%d leases after refused takes; want 5", len(ls))
	}
}

func TestLeaseIPv6AndPorts(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	mustCreate(t, s, CreateOptions{Name: "dual", Subnet: netip.MustParsePrefix("10.70.0.0/24"), Subnet6: netip.MustParsePrefix("fd70::/64")})
	mustCreate(t, s, CreateOptions{Name: "v4", Subnet: netip.MustParsePrefix("10.71.0.0/24")})
	spec := func(s string) []PortSpec {
		sp, err := ParsePortSpec(s)
		if err != nil {
			t.Fatal(err)
		}
		return []PortSpec{sp}
	}
	probe := &fakeProbe{busy: map[uint16]bool{}, next: 40000}
	port := spec("8080:80")
	_, a, a6, _, err := s.Take(ctx, LeaseRequest{Network: "dual", ContainerID: "c1", ContainerName: "web", Ports: port, Probe: probe, Addr6: netip.MustParseAddr("fd70::10")})
	if err != nil || a.String() != "10.70.0.2/24" || a6.String() != "fd70::10/64" {
		t.Fatalf("dual = %v %v %v", a, a6, err)
	}
	_, _, a6, _, _ = s.Take(ctx, LeaseRequest{Network: "dual", ContainerID: "c2"})
	if a6.String() != "fd70::2/64" {
		t.Fatalf("next v6 = %v", a6)
	}
	// Another network, same host port: refused, naming the holder; no
	// lease is left of the refused take.
	_, _, _, _, err = s.Take(ctx, LeaseRequest{Network: "v4", ContainerID: "c3", Ports: spec("127.0.0.1:8080:80"), Probe: probe})
	if err == nil || err.Error() != `-p "127.0.0.1:8080:80": host port 127.0.0.1:8080/tcp is already published by container web` {
		t.Fatalf("port clash: %v", err)
	}
	_, _, _, _, err = s.Take(ctx, LeaseRequest{Network: "v4", ContainerID: "c3", Addr6: netip.MustParseAddr("fd70::3")})
	if err == nil || !strings.Contains(err.Error(), "network v4 has no IPv6") {
		t.Fatalf("ip6 on a v4 network: %v", err)
	}
	_, _, _, _, err = s.Take(ctx, LeaseRequest{Network: "dual", ContainerID: "c3", Addr6: netip.MustParseAddr("fd70::10")})
	if err == nil || !strings.Contains(err.Error(), "--ip6 fd70::10: already in use") {
		t.Fatalf("taken v6: %v", err)
	}
	ls, _ := s.Leases(ctx)
	for _, l := range ls {
		if l.ContainerID == "c3" {
			t.Fatalf("a refused take left %+v", l)
		}
	}
	if pp, _ := s.PublishedPorts(ctx, "c2"); len(pp) != 1 || pp[0].HostPort != 8080 {
		t.Fatalf("published = %v", pp)
	}
	// A busy host port is refused in the take, which leaves nothing.
	probe.busy[9090] = true
	_, _, _, _, err = s.Take(ctx, LeaseRequest{Network: "v4", ContainerID: "c4", Ports: spec("9090:80"), Probe: probe})
	if err == nil || !strings.Contains(err.Error(), "9090") {
		t.Fatalf("busy port: %v", err)
	}
	// The default network is made by its first take.
	n, a, _, ports, err := s.Take(ctx, LeaseRequest{Network: DefaultName, ContainerID: "c5", Ports: spec("80"), Probe: probe, Routes: RouteList(nil)})
	if err != nil || !n.Default || a.String() != "10.88.0.2/16" || len(ports) != 1 || ports[0].HostPort != 40001 {
		t.Fatalf("default take = %+v %v %v %v", n, a, ports, err)
	}
}

func TestParallelLeases(t *testing.T) {
	s := newStore(t)
	mustCreate(t, s, CreateOptions{Name: "p", Subnet: netip.MustParsePrefix("10.80.0.0/24")})
	addrs := make([]netip.Prefix, 20)
	var wg sync.WaitGroup
	for i := range addrs {
		wg.Go(func() {
			_, a, _, _, err := s.Take(t.Context(), LeaseRequest{Network: "p", ContainerID: fmt.Sprint("c", i)})
			if err != nil {
				t.Error(err)
			}
			addrs[i] = a
		})
	}
	wg.Wait()
	checkDistinct(t, s, addrs)
}

func checkDistinct(t *testing.T, s *Store, addrs []netip.Prefix) {
	t.Helper()
	seen := map[netip.Prefix]bool{}
	for _, a := range addrs {
		if !a.IsValid() || seen[a] {
			t.Fatalf("addresses not distinct: %v", addrs)
		}
		seen[a] = true
	}
	ls, err := s.Leases(t.Context())
	if err != nil || len(ls) != len(addrs) {
		t.Fatalf("%d leases for %d takes (%v)", len(ls), len(addrs), err)
	}
}

// TestParallelLeasesProcesses takes leases from 20 processes at once on
// one metadata file, as 20 `stockade run`s do.
func TestParallelLeasesProcesses(t *testing.T) {
	if db := os.Getenv("STOCKADE_NETWORK_TAKE_DB"); db != "" {
		d, err := metadata.Open(context.Background(), db)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		_, a, _, _, err := (&Store{DB: d}).Take(context.Background(), LeaseRequest{Network: "p", ContainerID: os.Getenv("STOCKADE_NETWORK_TAKE_ID")})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("addr", a)
		os.Exit(0)
	}
	s := newStore(t)
	mustCreate(t, s, CreateOptions{Name: "p", Subnet: netip.MustParsePrefix("10.81.0.0/24")})
	addrs := make([]netip.Prefix, 20)
	var wg sync.WaitGroup
	for i := range addrs {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestParallelLeasesProcesses$")
			cmd.Env = append(os.Environ(), "STOCKADE_NETWORK_TAKE_DB="+s.DB.Path(), fmt.Sprint("STOCKADE_NETWORK_TAKE_ID=c", i))
			out, err := cmd.Output()
			f := strings.Fields(string(out))
			if err != nil || len(f) < 2 || f[0] != "addr" {
				t.Errorf("process %d: %v: %s", i, err, out)
				return
			}
			addrs[i] = netip.MustParsePrefix(f[1])
		})
	}
	wg.Wait()
	checkDistinct(t, s, addrs)
}

// TestReleaseEndpoints: a container's leases are found by its endpoints'
// addresses: its own go, another's at an address it names stays, a
// container that holds none writes nothing, and an endpoint on a network
// it did not record falls back to reading every lease.
func TestReleaseEndpoints(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	n := mustCreate(t, s, CreateOptions{Name: "lan", Subnet: netip.MustParsePrefix("10.61.0.0/24")})
	take := func(id string) netip.Prefix {
		_, a, _, _, err := s.Take(ctx, LeaseRequest{Network: "lan", ContainerID: id, ContainerName: id})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a, b := take("a"), take("b")
	txid := func() (id int) {
		s.DB.View(ctx, func(tx *bolt.Tx) error { id = tx.ID(); return nil })
		return id
	}
	nets := []*Network{n}
	// a's endpoint recorded with b's address: b's lease is not a's.
	if c, err := s.ReleaseEndpoints(ctx, "a", []Endpoint{{Network: "lan", Addr: b}}, nets); err != nil || c != 0 {
		t.Fatalf("release at another's address: %d, %v", c, err)
	}
	before := txid()
	if c, err := s.ReleaseEndpoints(ctx, "none", []Endpoint{{Network: "lan", Addr: netip.MustParsePrefix("10.61.0.99/24")}}, nets); err != nil || c != 0 || txid() != before {
		t.Fatalf("nothing held: %d, %v, tx %d -> %d", c, err, before, txid())
	}
	if c, err := s.ReleaseEndpoints(ctx, "a", []Endpoint{{Network: "lan", Addr: a}}, nets); err != nil || c != 1 {
		t.Fatalf("ReleaseEndpoints(a) = %d, %v", c, err)
	}
	if c, err := s.ReleaseEndpoints(ctx, "b", []Endpoint{{Network: "other", Addr: b}}, nets); err != nil || c != 1 {
		t.Fatalf("network not recorded: %d, %v; want b's lease found by reading them all", c, err)
	}
	if ls, _ := s.Leases(ctx); len(ls) != 0 {
		t.Fatalf("left %d leases", len(ls))
	}
}
