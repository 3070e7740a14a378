package network

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/metadata"
)

// ErrNotFound is returned for a network that does not exist.
var ErrNotFound = errors.New("no such network")

// Store keeps networks and address leases in the metadata store. Every
// change is one bbolt transaction, so that parallel stockade processes
// never hand out one address twice.
type Store struct {
	DB *metadata.DB
}

// Lease is one address of a network held by a container, with the host
// ports the container publishes (held from create to rm, like the
// address).
type Lease struct {
	NetworkID     string        `json:"networkID"`
	Network       string        `json:"network"`
	Addr          netip.Addr    `json:"addr"`
	ContainerID   string        `json:"containerID"`
	ContainerName string        `json:"containerName"`
	Ports         []PortMapping `json:"ports,omitempty"`
	Created       time.Time     `json:"created"`
}

func leaseKey(netID string, a netip.Addr) string {
	b := a.As16()
	return netID + "/" + hex.EncodeToString(b[:])
}

// CreateOptions are the options of `network create`.
type CreateOptions struct {
	Name string
	// Subnet and Gateway are --subnet and --gateway; invalid values are
	// chosen (a subnet off the host's routes, the first host address).
	Subnet  netip.Prefix
	Gateway netip.Addr
	// IPv6 turns IPv6 on; Subnet6 and Gateway6 are --subnet6 and
	// --gateway6 (a unique local /64 when Subnet6 is invalid).
	IPv6     bool
	Subnet6  netip.Prefix
	Gateway6 netip.Addr
	Internal bool
	Labels   map[string]string
	// Default marks the default network (created by EnsureDefault).
	Default bool
}

// Create records a new network. Routes are the host's route destinations
// a chosen subnet must avoid; a given subnet must only not overlap other
// networks.
func (s *Store) Create(ctx context.Context, o CreateOptions, routes []netip.Prefix) (*Network, error) {
	var n *Network
	err := s.DB.Update(ctx, func(tx *bolt.Tx) error {
		var err error
		n, err = createTx(tx, o, RouteList(routes))
		return err
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// createTx records a new network in tx; the host's routes are read only
// when a subnet is to be chosen.
func createTx(tx *bolt.Tx, o CreateOptions, routes RouteReader) (*Network, error) {
	if err := ValidateName(o.Name); err != nil {
		return nil, err
	}
	if o.Subnet.IsValid() {
		if err := checkSubnet(o.Subnet, false); err != nil {
			return nil, err
		}
	} else if o.Gateway.IsValid() {
		return nil, fmt.Errorf("--gateway %s needs --subnet", o.Gateway)
	}
	if o.Subnet6.IsValid() || o.Gateway6.IsValid() {
		o.IPv6 = true
	}
	if o.Subnet6.IsValid() {
		if err := checkSubnet(o.Subnet6, true); err != nil {
			return nil, err
		}
	} else if o.Gateway6.IsValid() {
		return nil, fmt.Errorf("--gateway6 %s needs --subnet6", o.Gateway6)
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	n := &Network{Name: o.Name, ID: id, Driver: DriverBridge, Internal: o.Internal, Default: o.Default,
		Created: time.Now().UTC(), Labels: o.Labels}
	n.Interface = BridgeName(n)
	if o.IPv6 && !o.Subnet6.IsValid() {
		// A unique local /64 from the network's random id (RFC 4193).
		raw, _ := hex.DecodeString(id[:14])
		var b [16]byte
		b[0] = 0xfd
		copy(b[1:8], raw)
		o.Subnet6 = netip.PrefixFrom(netip.AddrFrom16(b), 64)
	}
	all, err := allNetworks(tx)
	if err != nil {
		return nil, err
	}
	var taken []netip.Prefix
	for _, x := range all {
		if x.Name == o.Name {
			return nil, fmt.Errorf("network %s: already exists", o.Name)
		}
		if x.Interface == n.Interface {
			return nil, fmt.Errorf("network %s: interface %s is network %s's", o.Name, n.Interface, x.Name)
		}
		taken = append(taken, x.Subnet, x.Subnet6)
	}
	sub := o.Subnet
	if !sub.IsValid() {
		cands := userCandidates()
		if o.Default {
			cands = defaultCandidates()
		}
		var rs []netip.Prefix
		if routes != nil {
			if rs, err = routes.Routes(context.Background()); err != nil {
				return nil, fmt.Errorf("network %s: %w", o.Name, err)
			}
		}
		if sub, err = ChooseSubnet(cands, rs, taken); err != nil {
			return nil, fmt.Errorf("network %s: %w", o.Name, err)
		}
	}
	for _, x := range all {
		if x.Subnet.Overlaps(sub) {
			return nil, fmt.Errorf("subnet %s: overlaps network %s's %s", sub, x.Name, x.Subnet)
		}
		if o.Subnet6.IsValid() && x.Subnet6.IsValid() && x.Subnet6.Overlaps(o.Subnet6) {
			return nil, fmt.Errorf("subnet %s: overlaps network %s's %s", o.Subnet6, x.Name, x.Subnet6)
		}
	}
	n.Subnet = sub
	if n.Gateway, err = checkGateway(sub, o.Gateway); err != nil {
		return nil, err
	}
	if o.IPv6 {
		n.Subnet6 = o.Subnet6
		if n.Gateway6, err = checkGateway(o.Subnet6, o.Gateway6); err != nil {
			return nil, err
		}
	}
	if err := metadata.PutJSON(tx, metadata.BucketNetworks, n.Name, n); err != nil {
		return nil, err
	}
	return n, nil
}

func allNetworks(tx *bolt.Tx) ([]*Network, error) {
	var out []*Network
	err := metadata.ForEachJSON(tx, metadata.BucketNetworks, func(_ string, n *Network) error {
		out = append(out, n)
		return nil
	})
	return out, err
}

// EnsureDefault returns the default network, creating it with a subnet off
// the host's routes on first use.
func (s *Store) EnsureDefault(ctx context.Context, routes RouteReader) (*Network, error) {
	var n *Network
	err := s.DB.Update(ctx, func(tx *bolt.Tx) error {
		var err error
		n, err = defaultTx(tx, routes)
		return err
	})
	return n, err
}

func defaultTx(tx *bolt.Tx, routes RouteReader) (*Network, error) {
	n, err := getNetwork(tx, DefaultName)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return n, err
	}
	return createTx(tx, CreateOptions{Name: DefaultName, Default: true}, routes)
}

// Get returns the network named name, or its id or a unique id prefix.
func (s *Store) Get(ctx context.Context, name string) (*Network, error) {
	var out *Network
	err := s.DB.View(ctx, func(tx *bolt.Tx) error {
		n, err := getNetwork(tx, name)
		out = n
		return err
	})
	return out, err
}

func getNetwork(tx *bolt.Tx, name string) (*Network, error) {
	var n Network
	err := metadata.GetJSON(tx, metadata.BucketNetworks, name, &n)
	if err == nil {
		return &n, nil
	}
	if !errors.Is(err, metadata.ErrNotFound) {
		return nil, err
	}
	all, err := allNetworks(tx)
	if err != nil {
		return nil, err
	}
	var found *Network
	if len(name) >= 4 {
		for _, x := range all {
			if strings.HasPrefix(x.ID, name) {
				if found != nil {
					return nil, fmt.Errorf("network %s: the id prefix is ambiguous", name)
				}
				found = x
			}
		}
	}
	if found == nil {
		return nil, fmt.Errorf("network %s: %w", name, ErrNotFound)
	}
	return found, nil
}

// List returns every network, sorted by name.
func (s *Store) List(ctx context.Context) ([]*Network, error) {
	var out []*Network
	err := s.DB.View(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = allNetworks(tx)
		return err
	})
	return out, err
}

// Users returns the names of the containers holding leases on the network.
func (s *Store) Users(ctx context.Context, n *Network) ([]string, error) {
	var out []string
	err := s.DB.View(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = networkUsers(tx, n.ID)
		return err
	})
	return out, err
}

// networkUsers returns the names of the containers holding leases on the
// network netID, sorted: the leases under its key prefix.
func networkUsers(tx *bolt.Tx, netID string) ([]string, error) {
	b := tx.Bucket([]byte(metadata.BucketLeases))
	if b == nil {
		return nil, nil
	}
	var out []string
	prefix := []byte(netID + "/")
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var l Lease
		if err := json.Unmarshal(v, &l); err != nil {
			return nil, fmt.Errorf("decode lease %s: %w", k, err)
		}
		if !slices.Contains(out, l.ContainerName) {
			out = append(out, l.ContainerName)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Delete removes the network's record and its address marks, refused
// while containers hold leases on it.
func (s *Store) Delete(ctx context.Context, name string) (*Network, error) {
	var n *Network
	err := s.DB.Update(ctx, func(tx *bolt.Tx) error {
		var err error
		if n, err = getNetwork(tx, name); err != nil {
			return err
		}
		users, err := networkUsers(tx, n.ID)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return fmt.Errorf("network %s: in use by %s", n.Name, strings.Join(users, ", "))
		}
		if err := dropMarks(tx, n.ID); err != nil {
			return fmt.Errorf("network %s: %w", n.Name, err)
		}
		return metadata.Delete(tx, metadata.BucketNetworks, n.Name)
	})
	return n, err
}

// Leases returns every lease.
func (s *Store) Leases(ctx context.Context) ([]*Lease, error) {
	var out []*Lease
	err := s.DB.View(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = allLeases(tx)
		return err
	})
	return out, err
}

func allLeases(tx *bolt.Tx) ([]*Lease, error) {
	var out []*Lease
	err := metadata.ForEachJSON(tx, metadata.BucketLeases, func(_ string, l *Lease) error {
		out = append(out, l)
		return nil
	})
	return out, err
}

// LeaseRequest asks for a container's addresses on one network.
type LeaseRequest struct {
	Network       string
	ContainerID   string
	ContainerName string
	// Addr and Addr6 are --ip and --ip6; invalid means the next free.
	Addr, Addr6 netip.Addr
	// Ports are the container's published ports (-p, -P); none may clash
	// with another lease's. Probe checks given host ports and picks free
	// ones (BindProbe when nil).
	Ports []PortSpec
	Probe PortProbe
	// Routes are read when Network is the default network and has to be
	// made (nil: no routes to avoid).
	Routes RouteReader
}

// Take leases addresses and host ports in one transaction: the given
// addresses, refused when outside the subnet or taken, or the lowest free
// ones; the host ports of r.Ports, refused when another container
// publishes them or the host has them bound. The default network is made
// on first use in the same transaction. The container's own leases on the
// network (a create run again) are returned as they are.
//
// What it reads does not grow with the leases on the host: the
// container's own are found in the container index, the host ports in
// the port index, the lowest free address from the network's mark (see
// leaseBuckets).
func (s *Store) Take(ctx context.Context, r LeaseRequest) (n *Network, addr, addr6 netip.Prefix, ports []PortMapping, err error) {
	probe := r.Probe
	if probe == nil {
		probe = BindProbe{}
	}
	err = s.DB.Update(ctx, func(tx *bolt.Tx) error {
		if iface, ok := AliasInterface(r.Network); ok {
			n, err = aliasTx(tx, r.Network, iface)
		} else if r.Network == DefaultName {
			n, err = defaultTx(tx, r.Routes)
		} else {
			n, err = getNetwork(tx, r.Network)
		}
		if err != nil {
			return err
		}
		x, err := openLeases(tx)
		if err != nil {
			return err
		}
		own, err := x.own(r.ContainerID, n.ID)
		if err != nil {
			return err
		}
		for _, l := range own {
			if l.Addr.Is4() {
				addr = netip.PrefixFrom(l.Addr, bits4(n))
				ports = l.Ports
			} else {
				addr6 = netip.PrefixFrom(l.Addr, bits6(n))
			}
		}
		if addr.IsValid() || addr6.IsValid() {
			return nil
		}
		if ports, err = AssignPorts(r.Ports, portIndex{x.ports, r.ContainerID}, probe); err != nil {
			return err
		}
		pick := func(sub netip.Prefix, gw, want netip.Addr, flag string) (netip.Addr, error) {
			if !want.IsValid() {
				return x.lowestFree(n, sub, gw)
			}
			want = want.Unmap()
			if !usable(sub, want) || want == gw {
				return netip.Addr{}, fmt.Errorf("%s %s: not a free host address of network %s's subnet %s", flag, want, n.Name, sub)
			}
			if x.leased(n.ID, want) {
				return netip.Addr{}, fmt.Errorf("%s %s: already in use on network %s", flag, want, n.Name)
			}
			return want, nil
		}
		var a4, a6 netip.Addr
		if n.Driver == DriverAlias {
			// Given addresses only, on the host's interface.
			if len(ports) > 0 {
				return fmt.Errorf("-p: network %s has no port mapping (the container listens on its own address)", n.Name)
			}
			for _, g := range []struct {
				want netip.Addr
				flag string
				dst  *netip.Addr
			}{{r.Addr, "--ip", &a4}, {r.Addr6, "--ip6", &a6}} {
				if !g.want.IsValid() {
					continue
				}
				a := g.want.Unmap()
				if !a.IsGlobalUnicast() {
					return fmt.Errorf("%s %s: not a unicast address a jail can use", g.flag, a)
				}
				if x.leased(n.ID, a) {
					return fmt.Errorf("%s %s: already in use on network %s", g.flag, a, n.Name)
				}
				*g.dst = a
			}
			if !a4.IsValid() && !a6.IsValid() {
				return fmt.Errorf("--network %s: give the container's address with --ip or --ip6", n.Name)
			}
		} else {
			if a4, err = pick(n.Subnet, n.Gateway, r.Addr, "--ip"); err != nil {
				return err
			}
			if r.Addr6.IsValid() && !n.Subnet6.IsValid() {
				return fmt.Errorf("--ip6 %s: network %s has no IPv6", r.Addr6, n.Name)
			}
			if n.Subnet6.IsValid() {
				if a6, err = pick(n.Subnet6, n.Gateway6, r.Addr6, "--ip6"); err != nil {
					return err
				}
			}
		}
		now := time.Now().UTC()
		for _, a := range []netip.Addr{a4, a6} {
			if !a.IsValid() {
				continue
			}
			l := &Lease{NetworkID: n.ID, Network: n.Name, Addr: a, ContainerID: r.ContainerID,
				ContainerName: r.ContainerName, Created: now}
			if a == a4 {
				l.Ports = ports
			}
			if err := x.put(leaseKey(n.ID, a), l); err != nil {
				return err
			}
		}
		if a4.IsValid() {
			addr = netip.PrefixFrom(a4, bits4(n))
		}
		if a6.IsValid() {
			addr6 = netip.PrefixFrom(a6, bits6(n))
		}
		return nil
	})
	if err != nil {
		return nil, netip.Prefix{}, netip.Prefix{}, nil, err
	}
	return n, addr, addr6, ports, nil
}

// bits4 and bits6 are the prefix lengths of a network's addresses: its
// subnets', or single addresses on an alias network.
func bits4(n *Network) int {
	if n.Driver == DriverAlias {
		return 32
	}
	return n.Subnet.Bits()
}

func bits6(n *Network) int {
	if n.Driver == DriverAlias {
		return 128
	}
	return n.Subnet6.Bits()
}

// aliasTx returns the alias network of a host interface, made on first
// use: no subnet, no gateway, no bridge.
func aliasTx(tx *bolt.Tx, name, iface string) (*Network, error) {
	n, err := getNetwork(tx, name)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return n, err
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	n = &Network{Name: name, ID: id, Driver: DriverAlias, Interface: iface, Created: time.Now().UTC()}
	if err := metadata.PutJSON(tx, metadata.BucketNetworks, name, n); err != nil {
		return nil, err
	}
	return n, nil
}

// Release drops every lease of the container; it reports how many. The
// container's leases are the keys under its id in the container index:
// what it reads does not grow with the leases on the host. A container
// without leases (most: --network none, host, or a create that failed
// early) costs a read, not a write transaction and its syncs.
func (s *Store) Release(ctx context.Context, containerID string) (int, error) {
	var keys []string
	err := s.DB.View(ctx, func(tx *bolt.Tx) error {
		keys = ownKeys(tx, containerID)
		return nil
	})
	if err != nil || len(keys) == 0 {
		return 0, err
	}
	dropped := 0
	err = s.DB.Update(ctx, func(tx *bolt.Tx) error {
		dropped = 0
		keys := ownKeys(tx, containerID)
		if len(keys) == 0 {
			return nil
		}
		x, err := openLeases(tx)
		if err != nil {
			return err
		}
		for _, k := range keys {
			ok, err := x.drop(k, containerID)
			if err != nil {
				return err
			}
			if ok {
				dropped++
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return dropped, nil
}

// ownKeys returns the lease keys of the container in the container index.
func ownKeys(tx *bolt.Tx, containerID string) []string {
	b := tx.Bucket([]byte(metadata.BucketContainerLeases))
	if b == nil {
		return nil
	}
	var own []string
	prefix := []byte(ownerKey(containerID, ""))
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		own = append(own, string(k[len(prefix):]))
	}
	return own
}

// PublishedPorts returns every host port held by a lease, except the
// container's own.
func (s *Store) PublishedPorts(ctx context.Context, exceptContainer string) ([]PortMapping, error) {
	ls, err := s.Leases(ctx)
	if err != nil {
		return nil, err
	}
	var out []PortMapping
	for _, l := range ls {
		if l.ContainerID != exceptContainer {
			out = append(out, l.Ports...)
		}
	}
	return out, nil
}

// leaseBuckets are the leases and their indexes in a write transaction.
// put and drop, the only writers of leases, keep the indexes in step
// with the leases, in the same transaction:
//
//   - ports (metadata.BucketLeasePorts): a host port's protocol and
//     number ("tcp/08080") to the leases that publish it (portHolder),
//     so that checking a port reads that port's holders only;
//   - owners (metadata.BucketContainerLeases): container id + "/" +
//     lease key, so that a container's leases, on one network or all,
//     are a scan of its keys;
//   - marks (metadata.BucketLeaseMarks): per network and address family
//     (network id + "/4" or "/6") the address the search for a free one
//     goes on from; every host address below it is leased, the gateway
//     or in free;
//   - free (metadata.BucketLeaseFree): the lease keys of the addresses
//     below the mark that were freed.
//
// The lowest free address is then the first key of free in the subnet,
// or else the first address from the mark up that holds no lease: a
// search moves the mark past what it passes, so each address is passed
// once and a take costs O(1) look-ups amortised. A network without a mark (new,
// or of a store from before the indexes) is searched from its subnet's
// start.
type leaseBuckets struct {
	leases, ports, owners, marks, free *bolt.Bucket
}

// openLeases opens (makes, when missing) the leases' buckets in tx.
func openLeases(tx *bolt.Tx) (*leaseBuckets, error) {
	var x leaseBuckets
	for _, b := range []struct {
		name string
		dst  **bolt.Bucket
	}{
		{metadata.BucketLeases, &x.leases},
		{metadata.BucketLeasePorts, &x.ports},
		{metadata.BucketContainerLeases, &x.owners},
		{metadata.BucketLeaseMarks, &x.marks},
		{metadata.BucketLeaseFree, &x.free},
	} {
		var err error
		if *b.dst, err = tx.CreateBucketIfNotExists([]byte(b.name)); err != nil {
			return nil, fmt.Errorf("metadata bucket %s: %w", b.name, err)
		}
	}
	return &x, nil
}

// portHolder is a lease's claim on a host port, as the port index keeps
// it under the port's protocol and number (portKey).
type portHolder struct {
	// HostIP is the mapping's host address; invalid is every address.
	HostIP        netip.Addr `json:"hostIP,omitzero"`
	ContainerID   string     `json:"containerID"`
	ContainerName string     `json:"containerName"`
	// Lease is the key of the lease that publishes the port.
	Lease string `json:"lease"`
}

func portKey(proto string, port uint16) string {
	return fmt.Sprintf("%s/%05d", proto, port)
}

func ownerKey(containerID, lease string) string {
	return containerID + "/" + lease
}

// markKey is the key of the network's mark for a's address family.
func markKey(netID string, a netip.Addr) string {
	if a.Is4() {
		return netID + "/4"
	}
	return netID + "/6"
}

// keyAddr returns the address of a lease key.
func keyAddr(k []byte) (netip.Addr, bool) {
	i := bytes.LastIndexByte(k, '/')
	var b [16]byte
	if i < 0 || hex.DecodedLen(len(k)-i-1) != len(b) {
		return netip.Addr{}, false
	}
	if _, err := hex.Decode(b[:], k[i+1:]); err != nil {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16(b).Unmap(), true
}

func holdersAt(b *bolt.Bucket, key string) ([]portHolder, error) {
	v := b.Get([]byte(key))
	if v == nil {
		return nil, nil
	}
	var hs []portHolder
	if err := json.Unmarshal(v, &hs); err != nil {
		return nil, fmt.Errorf("decode %s/%s: %w", metadata.BucketLeasePorts, key, err)
	}
	return hs, nil
}

func (x *leaseBuckets) putHolders(key string, hs []portHolder) error {
	if len(hs) == 0 {
		return x.ports.Delete([]byte(key))
	}
	data, err := json.Marshal(hs)
	if err != nil {
		return fmt.Errorf("encode %s/%s: %w", metadata.BucketLeasePorts, key, err)
	}
	return x.ports.Put([]byte(key), data)
}

// portIndex answers AssignPorts from the port index: the holders of a
// port other than the container except.
type portIndex struct {
	ports  *bolt.Bucket
	except string
}

// Holder returns the container of the first holder of m's protocol and
// port whose mapping conflicts with m.
func (p portIndex) Holder(m PortMapping) (string, error) {
	hs, err := holdersAt(p.ports, portKey(m.Protocol, m.HostPort))
	if err != nil {
		return "", err
	}
	for _, h := range hs {
		if h.ContainerID != p.except && Conflicts(PortMapping{HostIP: h.HostIP, HostPort: m.HostPort, Protocol: m.Protocol}, m) {
			return h.ContainerName, nil
		}
	}
	return "", nil
}

// leased reports whether a lease holds a on the network.
func (x *leaseBuckets) leased(netID string, a netip.Addr) bool {
	return x.leases.Get([]byte(leaseKey(netID, a))) != nil
}

// own returns the container's leases on the network netID.
func (x *leaseBuckets) own(containerID, netID string) ([]*Lease, error) {
	var out []*Lease
	prefix := []byte(ownerKey(containerID, netID+"/"))
	c := x.owners.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		key := k[len(containerID)+1:]
		v := x.leases.Get(key)
		if v == nil {
			continue
		}
		l := new(Lease)
		if err := json.Unmarshal(v, l); err != nil {
			return nil, fmt.Errorf("decode lease %s: %w", key, err)
		}
		if l.ContainerID == containerID {
			out = append(out, l)
		}
	}
	return out, nil
}

// put writes the lease l under key, with its index entries.
func (x *leaseBuckets) put(key string, l *Lease) error {
	data, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("encode lease %s: %w", key, err)
	}
	if err := x.leases.Put([]byte(key), data); err != nil {
		return fmt.Errorf("lease %s: %w", key, err)
	}
	if err := x.owners.Put([]byte(ownerKey(l.ContainerID, key)), nil); err != nil {
		return fmt.Errorf("lease %s: %w", key, err)
	}
	if err := x.free.Delete([]byte(key)); err != nil {
		return fmt.Errorf("lease %s: %w", key, err)
	}
	for _, m := range l.Ports {
		pk := portKey(m.Protocol, m.HostPort)
		hs, err := holdersAt(x.ports, pk)
		if err != nil {
			return err
		}
		hs = append(hs, portHolder{HostIP: m.HostIP, ContainerID: l.ContainerID, ContainerName: l.ContainerName, Lease: key})
		if err := x.putHolders(pk, hs); err != nil {
			return fmt.Errorf("lease %s: %w", key, err)
		}
	}
	return nil
}

// drop deletes the lease under key when it is containerID's, with its
// index entries; the container index's entry for key goes in any case.
// It reports whether a lease went. An address below its network's mark
// is added to the free ones.
func (x *leaseBuckets) drop(key, containerID string) (bool, error) {
	if err := x.owners.Delete([]byte(ownerKey(containerID, key))); err != nil {
		return false, fmt.Errorf("lease %s: %w", key, err)
	}
	v := x.leases.Get([]byte(key))
	if v == nil {
		return false, nil
	}
	var l Lease
	if err := json.Unmarshal(v, &l); err != nil {
		return false, fmt.Errorf("decode lease %s: %w", key, err)
	}
	if l.ContainerID != containerID {
		return false, nil
	}
	if err := x.leases.Delete([]byte(key)); err != nil {
		return false, fmt.Errorf("lease %s: %w", key, err)
	}
	for _, m := range l.Ports {
		pk := portKey(m.Protocol, m.HostPort)
		hs, err := holdersAt(x.ports, pk)
		if err != nil {
			return false, err
		}
		hs = slices.DeleteFunc(hs, func(h portHolder) bool { return h.Lease == key })
		if err := x.putHolders(pk, hs); err != nil {
			return false, fmt.Errorf("lease %s: %w", key, err)
		}
	}
	mark, err := x.mark(l.NetworkID, l.Addr)
	if err != nil {
		return false, err
	}
	if mark.IsValid() && l.Addr.Less(mark) {
		if err := x.free.Put([]byte(key), nil); err != nil {
			return false, fmt.Errorf("lease %s: %w", key, err)
		}
	}
	return true, nil
}

// mark returns the network's mark for a's family; invalid when it has
// none.
func (x *leaseBuckets) mark(netID string, a netip.Addr) (netip.Addr, error) {
	k := markKey(netID, a)
	v := x.marks.Get([]byte(k))
	if v == nil {
		return netip.Addr{}, nil
	}
	m, err := netip.ParseAddr(string(v))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("decode %s/%s: %w", metadata.BucketLeaseMarks, k, err)
	}
	return m, nil
}

// lowestFree returns the lowest host address of sub that no lease
// holds and is not gw, among the first 2^16 of sub: the lowest freed
// one below the network's mark, or else the first one from the mark up,
// past which the mark moves. Put takes it out of the freed ones.
func (x *leaseBuckets) lowestFree(n *Network, sub netip.Prefix, gw netip.Addr) (netip.Addr, error) {
	start := sub.Masked().Addr()
	c := x.free.Cursor()
	for k, _ := c.Seek([]byte(leaseKey(n.ID, start))); k != nil; k, _ = c.Next() {
		a, ok := keyAddr(k)
		if !ok || !bytes.HasPrefix(k, []byte(n.ID+"/")) || !sub.Contains(a) {
			break
		}
		if usable(sub, a) && a != gw && x.leases.Get(k) == nil {
			return a, nil
		}
	}
	a := start.Next()
	mark, err := x.mark(n.ID, a)
	if err != nil {
		return netip.Addr{}, err
	}
	if a.Less(mark) {
		a = mark
	}
	for last := walkEnd(sub); usable(sub, a) && !last.Less(a); a = a.Next() {
		if a != gw && !x.leased(n.ID, a) {
			k := markKey(n.ID, a)
			if err := x.marks.Put([]byte(k), []byte(a.Next().String())); err != nil {
				return netip.Addr{}, fmt.Errorf("%s/%s: %w", metadata.BucketLeaseMarks, k, err)
			}
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("network %s: no free address left in %s", n.Name, sub)
}

// walkEnd is the last address the search for a free one tries: the
// 2^16th host address of sub.
func walkEnd(sub netip.Prefix) netip.Addr {
	b := sub.Masked().Addr().As16()
	for i := 13; i >= 0; i-- { // add 1<<16
		if b[i]++; b[i] != 0 {
			break
		}
	}
	a := netip.AddrFrom16(b)
	if sub.Addr().Is4() {
		a = a.Unmap()
	}
	return a
}

// dropMarks deletes a network's marks and freed addresses.
func dropMarks(tx *bolt.Tx, netID string) error {
	for _, name := range []string{metadata.BucketLeaseMarks, metadata.BucketLeaseFree} {
		b := tx.Bucket([]byte(name))
		if b == nil {
			continue
		}
		var keys [][]byte
		prefix := []byte(netID + "/")
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("%s/%s: %w", name, k, err)
			}
		}
	}
	return nil
}
