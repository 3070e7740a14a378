package network

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// TestRelease: a container's own leases go, another's stay, and a
// container that holds none writes nothing.
func TestRelease(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	mustCreate(t, s, CreateOptions{Name: "lan", Subnet: netip.MustParsePrefix("10.61.0.0/24")})
	for _, id := range []string{"a", "b"} {
		if _, _, _, _, err := s.Take(ctx, LeaseRequest{Network: "lan", ContainerID: id, ContainerName: id}); err != nil {
			t.Fatal(err)
		}
	}
	txid := func() (id int) {
		s.DB.View(ctx, func(tx *bolt.Tx) error { id = tx.ID(); return nil })
		return id
	}
	before := txid()
	if c, err := s.Release(ctx, "none"); err != nil || c != 0 || txid() != before {
		t.Fatalf("nothing held: %d, %v, tx %d -> %d", c, err, before, txid())
	}
	if c, err := s.Release(ctx, "a"); err != nil || c != 1 {
		t.Fatalf("Release(a) = %d, %v", c, err)
	}
	if ls, _ := s.Leases(ctx); len(ls) != 1 || ls[0].ContainerID != "b" {
		t.Fatalf("after Release(a): %+v, want b's lease alone", ls)
	}
	if c, err := s.Release(ctx, "b"); err != nil || c != 1 {
		t.Fatalf("Release(b) = %d, %v", c, err)
	}
	if ls, _ := s.Leases(ctx); len(ls) != 0 {
		t.Fatalf("left %d leases", len(ls))
	}
}

// portSpecs parses -p specs.
func portSpecs(t *testing.T, ss ...string) []PortSpec {
	t.Helper()
	var out []PortSpec
	for _, s := range ss {
		sp, err := ParsePortSpec(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sp)
	}
	return out
}

// TestLeasePortIndex: a take checks its host ports against the port
// index with Conflicts' rules: a port on every address clashes with one
// on a given address, other addresses and the other protocol do not.
func TestLeasePortIndex(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	mustCreate(t, s, CreateOptions{Name: "lan", Subnet: netip.MustParsePrefix("10.62.0.0/24")})
	mustCreate(t, s, CreateOptions{Name: "dmz", Subnet: netip.MustParsePrefix("10.63.0.0/24")})
	probe := &fakeProbe{busy: map[uint16]bool{}, next: 40000}
	if _, _, _, _, err := s.Take(ctx, LeaseRequest{Network: "lan", ContainerID: "w", ContainerName: "web",
		Ports: portSpecs(t, "127.0.0.1:8080:80", "9000-9001:90-91", "[::1]:7000:70/udp"), Probe: probe}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		spec string
		port uint16 // the host port published
		want string // else the error
	}{
		{"127.0.0.1:8080:80", 0, `-p "127.0.0.1:8080:80": host port 127.0.0.1:8080/tcp is already published by container web`},
		{"8080:80", 0, `-p "8080:80": host port 0.0.0.0:8080/tcp is already published by container web`},
		{"0.0.0.0:8080:80", 0, `host port 0.0.0.0:8080/tcp is already published by container web`},
		{"127.0.0.2:8080:80", 8080, ""},
		{"8080:80/udp", 8080, ""},
		{"127.0.0.1:9000:80", 0, `host port 127.0.0.1:9000/tcp is already published by container web`},
		{"[::1]:9001:80", 0, `host port [::1]:9001/tcp is already published by container web`},
		{"9000:80", 0, `host port 0.0.0.0:9000/tcp is already published by container web`},
		{"9000:80/udp", 9000, ""},
		{"9002:80", 9002, ""},
		{"7000:70/udp", 0, `host port 0.0.0.0:7000/udp is already published by container web`},
		{"127.0.0.1:7000:70/udp", 7000, ""},
		{"7000:70", 7000, ""},
		{"9000-9002:80", 9002, ""},
		{"8999-9001:80", 8999, ""},
		{"9000-9001:80", 0, `-p "9000-9001:80": no free host port in 9000-9001`},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			// On the other network: the index is the host's, not the
			// network's.
			_, _, _, ports, err := s.Take(ctx, LeaseRequest{Network: "dmz", ContainerID: "x", ContainerName: "x",
				Ports: portSpecs(t, tc.spec), Probe: probe})
			if tc.want == "" {
				if err != nil || len(ports) != 1 || ports[0].HostPort != tc.port {
					t.Fatalf("Take(-p %s) = %v, %v; want host port %d", tc.spec, ports, err, tc.port)
				}
				if c, err := s.Release(ctx, "x"); err != nil || c != 1 {
					t.Fatalf("Release = %d, %v", c, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Take(-p %s) = %v; want %q", tc.spec, err, tc.want)
			}
		})
	}
	if ls, _ := s.Leases(ctx); len(ls) != 1 {
		t.Fatalf("%d leases left; want web's", len(ls))
	}
}

// TestLeaseRandomPort: -P takes the kernel's free port unless another
// container publishes it, which the index tells.
func TestLeaseRandomPort(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	mustCreate(t, s, CreateOptions{Name: "lan", Subnet: netip.MustParsePrefix("10.64.0.0/24")})
	probe := &fakeProbe{busy: map[uint16]bool{}, next: 40000}
	if _, _, _, _, err := s.Take(ctx, LeaseRequest{Network: "lan", ContainerID: "w", ContainerName: "web",
		Ports: portSpecs(t, "40001:80", "40002:80/udp"), Probe: probe}); err != nil {
		t.Fatal(err)
	}
	specs, err := ExposedSpecs([]string{"80/tcp", "53/udp"})
	if err != nil {
		t.Fatal(err)
	}
	// The probe offers 40001 (web's), then 40002 (web's for udp only).
	_, _, _, ports, err := s.Take(ctx, LeaseRequest{Network: "lan", ContainerID: "p", ContainerName: "p", Ports: specs, Probe: probe})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ports {
		got = append(got, FormatPort(m))
	}
	if want := "0.0.0.0:40002->80/tcp 0.0.0.0:40003->53/udp"; strings.Join(got, " ") != want {
		t.Fatalf("-P = %s; want %s", strings.Join(got, " "), want)
	}
}

// TestLeaseLowestFree: the lowest free address is taken after releases
// at the bottom, in the middle and above the addresses walked, and
// around addresses given with --ip.
func TestLeaseLowestFree(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	mustCreate(t, s, CreateOptions{Name: "lan", Subnet: netip.MustParsePrefix("10.65.0.0/28"), Subnet6: netip.MustParsePrefix("fd65::/64")})
	for i, step := range []struct {
		rm   string // release this container; else take for id
		id   string
		ip   string // --ip
		want string // the address taken
	}{
		{id: "a", want: "10.65.0.2"},
		{id: "b", want: "10.65.0.3"},
		{id: "c", want: "10.65.0.4"},
		{id: "d", want: "10.65.0.5"},
		{id: "g", ip: "10.65.0.7", want: "10.65.0.7"},
		{id: "e", want: "10.65.0.6"},
		{id: "f", want: "10.65.0.8"}, // past the given .7
		{rm: "c"},                    // the middle
		{id: "h", want: "10.65.0.4"},
		{rm: "a"}, // the bottom
		{rm: "d"},
		{id: "i", want: "10.65.0.2"},
		{id: "j", want: "10.65.0.5"},
		{id: "k", want: "10.65.0.9"},
		{id: "l", ip: "10.65.0.12", want: "10.65.0.12"},
		{rm: "l"}, // above the addresses walked
		{id: "m", ip: "10.65.0.11", want: "10.65.0.11"},
		{rm: "b"},
		{id: "n", ip: "10.65.0.3", want: "10.65.0.3"}, // a freed one, given
		{id: "o", want: "10.65.0.10"},
		{id: "p", want: "10.65.0.12"},
		{id: "q", want: "10.65.0.13"},
		{id: "r", want: "10.65.0.14"},
		{id: "s"}, // full: .15 is the broadcast address
		{rm: "i"},
		{id: "t", want: "10.65.0.2"},
	} {
		if step.rm != "" {
			if c, err := s.Release(ctx, step.rm); err != nil || c != 2 {
				t.Fatalf("step %d: Release(%s) = %d, %v; want its two leases", i, step.rm, c, err)
			}
			continue
		}
		r := LeaseRequest{Network: "lan", ContainerID: step.id, ContainerName: step.id}
		if step.ip != "" {
			r.Addr = netip.MustParseAddr(step.ip)
		}
		_, a, a6, _, err := s.Take(ctx, r)
		if step.want == "" {
			if err == nil || err.Error() != "network lan: no free address left in 10.65.0.0/28" {
				t.Fatalf("step %d: take on a full network: %v, %v", i, a, err)
			}
			continue
		}
		if err != nil || a.Addr().String() != step.want || !a6.IsValid() {
			t.Fatalf("step %d: take for %s = %v %v, %v; want %s", i, step.id, a, a6, err, step.want)
		}
	}
	// The IPv6 addresses, never given, stay the lowest ones: fd65::2 on.
	ls, err := s.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var v6 []netip.Addr
	for _, l := range ls {
		if l.Addr.Is6() {
			v6 = append(v6, l.Addr)
		}
	}
	slices.SortFunc(v6, netip.Addr.Compare)
	for i, a := range v6 {
		if want := netip.AddrFrom16([16]byte{0: 0xfd, 1: 0x65, 15: byte(i + 2)}); a != want {
			t.Fatalf("IPv6 leases %v; want fd65::2 to fd65::%x", v6, len(v6)+1)
		}
	}
	// Every address freed below a mark was taken again.
	if keys := bucketKeys(t, s, metadata.BucketLeaseFree); len(keys) != 0 {
		t.Fatalf("freed addresses left: %q", keys)
	}
}

// TestLeaseRerunAndRelease: a create run again gets its own leases back,
// ports and all, without clashing with itself; rm frees the index
// entries with the leases, so its address and host port can be taken
// again, and removing the network leaves none of its marks.
func TestLeaseRerunAndRelease(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	mustCreate(t, s, CreateOptions{Name: "lan", Subnet: netip.MustParsePrefix("10.66.0.0/24"), Subnet6: netip.MustParsePrefix("fd66::/64")})
	probe := &fakeProbe{busy: map[uint16]bool{}, next: 40000}
	r := LeaseRequest{Network: "lan", ContainerID: "w", ContainerName: "web", Ports: portSpecs(t, "8080:80"), Probe: probe}
	_, a, a6, ports, err := s.Take(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	_, again, again6, againPorts, err := s.Take(ctx, r)
	if err != nil || again != a || again6 != a6 || len(againPorts) != 1 || againPorts[0] != ports[0] {
		t.Fatalf("again = %v %v %v, %v; want %v %v %v", again, again6, againPorts, err, a, a6, ports)
	}
	if ls, _ := s.Leases(ctx); len(ls) != 2 {
		t.Fatalf("%d leases after a create run again; want 2", len(ls))
	}
	if _, _, _, _, err := s.Take(ctx, LeaseRequest{Network: "lan", ContainerID: "x", Ports: portSpecs(t, "8080:80"), Probe: probe}); err == nil {
		t.Fatal("web's host port was published again")
	}
	if c, err := s.Release(ctx, "w"); err != nil || c != 2 {
		t.Fatalf("Release = %d, %v", c, err)
	}
	_, b, b6, _, err := s.Take(ctx, LeaseRequest{Network: "lan", ContainerID: "x", ContainerName: "x", Ports: portSpecs(t, "8080:80"), Probe: probe})
	if err != nil || b != a || b6 != a6 {
		t.Fatalf("after rm: %v %v, %v; want web's %v %v and its port", b, b6, err, a, a6)
	}
	if c, err := s.Release(ctx, "x"); err != nil || c != 2 {
		t.Fatalf("Release = %d, %v", c, err)
	}
	if _, err := s.Delete(ctx, "lan"); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{metadata.BucketLeases, metadata.BucketLeasePorts, metadata.BucketContainerLeases,
		metadata.BucketLeaseMarks, metadata.BucketLeaseFree} {
		if keys := bucketKeys(t, s, b); len(keys) != 0 {
			t.Errorf("bucket %s keeps %q", b, keys)
		}
	}
}

func bucketKeys(t *testing.T, s *Store, bucket string) []string {
	t.Helper()
	var out []string
	err := s.DB.View(t.Context(), func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return fmt.Errorf("no bucket %s", bucket)
		}
		return b.ForEach(func(k, _ []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTakeReadsOnlyItsOwn: a take reads the leases its request names,
// not every lease on the host. Another container's lease that does not
// decode is never read: its address is passed over as taken, and takes
// and releases of others go on (a take that decoded every lease, so
// that n creates cost n², failed here).
func TestTakeReadsOnlyItsOwn(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	n := mustCreate(t, s, CreateOptions{Name: "lan", Subnet: netip.MustParsePrefix("10.67.0.0/24")})
	if err := s.DB.Update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(metadata.BucketLeases)).Put([]byte(leaseKey(n.ID, netip.MustParseAddr("10.67.0.2"))), []byte("{not json"))
	}); err != nil {
		t.Fatal(err)
	}
	probe := &fakeProbe{busy: map[uint16]bool{}, next: 40000}
	for i, want := range []string{"10.67.0.3/24", "10.67.0.4/24"} {
		r := LeaseRequest{Network: "lan", ContainerID: fmt.Sprint("c", i), ContainerName: fmt.Sprint("c", i), Ports: portSpecs(t, fmt.Sprint(8080+i, ":80")), Probe: probe}
		for range 2 { // and again, as a create run again
			if _, a, _, _, err := s.Take(ctx, r); err != nil || a.String() != want {
				t.Fatalf("take beside an undecodable lease = %v, %v; want %s", a, err, want)
			}
		}
	}
	if c, err := s.Release(ctx, "c0"); err != nil || c != 1 {
		t.Fatalf("Release beside an undecodable lease = %d, %v", c, err)
	}
	if _, a, _, _, err := s.Take(ctx, LeaseRequest{Network: "lan", ContainerID: "c2", Ports: portSpecs(t, "8080:80"), Probe: probe}); err != nil || a.String() != "10.67.0.3/24" {
		t.Fatalf("take after a release = %v, %v", a, err)
	}
}

// TestLeaseIndexMigration: a store of schema 4, whose leases have no
// indexes, opened by this stockade refuses a clashing port and a taken
// address and gives a create run again its own lease.
func TestLeaseIndexMigration(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "metadata.db")
	n := &Network{Name: "lan", ID: strings.Repeat("ab", 32), Driver: DriverBridge, Interface: "stk-abababab",
		Subnet: netip.MustParsePrefix("10.68.0.0/24"), Gateway: netip.MustParseAddr("10.68.0.1")}
	lease := func(id, name, addr string, ports ...PortMapping) *Lease {
		return &Lease{NetworkID: n.ID, Network: n.Name, Addr: netip.MustParseAddr(addr), ContainerID: id, ContainerName: name, Ports: ports}
	}
	leases := []*Lease{
		lease("w", "web", "10.68.0.2", PortMapping{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}),
		lease("d", "db", "10.68.0.3", PortMapping{HostPort: 5432, ContainerPort: 5432, Protocol: "tcp"}),
		lease("c", "cache", "10.68.0.5"),
	}
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		put := func(bucket, key string, v any) error {
			b, err := tx.CreateBucketIfNotExists([]byte(bucket))
			if err != nil {
				return err
			}
			data, ok := v.([]byte)
			if !ok {
				if data, err = json.Marshal(v); err != nil {
					return err
				}
			}
			return b.Put([]byte(key), data)
		}
		var schema [8]byte
		binary.BigEndian.PutUint64(schema[:], 4)
		if err := put(metadata.BucketMeta, "schema", schema[:]); err != nil {
			return err
		}
		for _, b := range []string{metadata.BucketImages, metadata.BucketContainers, metadata.BucketVolumes, metadata.BucketContainerNames} {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		if err := put(metadata.BucketNetworks, n.Name, n); err != nil {
			return err
		}
		for _, l := range leases {
			if err := put(metadata.BucketLeases, leaseKey(n.ID, l.Addr), l); err != nil {
				return err
			}
		}
		return nil
	})
	if err2 := bdb.Close(); err == nil {
		err = err2
	}
	if err != nil {
		t.Fatal(err)
	}
	db, err := metadata.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{DB: db}
	probe := &fakeProbe{busy: map[uint16]bool{}, next: 40000}
	for _, tc := range []struct {
		spec, ip, want string
	}{
		{"8080:80", "", "host port 0.0.0.0:8080/tcp is already published by container web"},
		{"127.0.0.1:5432:80", "", "host port 127.0.0.1:5432/tcp is already published by container db"},
		{"", "10.68.0.3", "--ip 10.68.0.3: already in use on network lan"},
	} {
		r := LeaseRequest{Network: "lan", ContainerID: "x", Probe: probe}
		if tc.spec != "" {
			r.Ports = portSpecs(t, tc.spec)
		}
		if tc.ip != "" {
			r.Addr = netip.MustParseAddr(tc.ip)
		}
		if _, _, _, _, err := s.Take(ctx, r); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("-p %q --ip %q: %v; want %q", tc.spec, tc.ip, err, tc.want)
		}
	}
	_, a, _, ports, err := s.Take(ctx, LeaseRequest{Network: "lan", ContainerID: "w", ContainerName: "web", Ports: portSpecs(t, "127.0.0.1:8080:80"), Probe: probe})
	if err != nil || a.String() != "10.68.0.2/24" || len(ports) != 1 || ports[0] != leases[0].Ports[0] {
		t.Fatalf("web's create run again = %v %v, %v; want its lease", a, ports, err)
	}
	for _, want := range []string{"10.68.0.4/24", "10.68.0.6/24"} {
		if _, a, _, _, err := s.Take(ctx, LeaseRequest{Network: "lan", ContainerID: "n" + want}); err != nil || a.String() != want {
			t.Fatalf("take = %v, %v; want %s", a, err, want)
		}
	}
	if c, err := s.Release(ctx, "w"); err != nil || c != 1 {
		t.Fatalf("Release(web) = %d, %v", c, err)
	}
	if _, a, _, _, err := s.Take(ctx, LeaseRequest{Network: "lan", ContainerID: "x", Ports: portSpecs(t, "8080:80"), Probe: probe}); err != nil || a.String() != "10.68.0.2/24" {
		t.Fatalf("take of web's address and port after its rm = %v, %v", a, err)
	}
}
