package network

import (
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
	ls, err := s.Leases(ctx)
	if err != nil {
		return nil, err
	}
	return usersOf(ls, n.ID), nil
}

func usersOf(ls []*Lease, netID string) []string {
	var out []string
	for _, l := range ls {
		if l.NetworkID == netID && !slices.Contains(out, l.ContainerName) {
			out = append(out, l.ContainerName)
		}
	}
	slices.Sort(out)
	return out
}

// Delete removes the network's record, refused while containers hold
// leases on it.
func (s *Store) Delete(ctx context.Context, name string) (*Network, error) {
	var n *Network
	err := s.DB.Update(ctx, func(tx *bolt.Tx) error {
		var err error
		if n, err = getNetwork(tx, name); err != nil {
			return err
		}
		ls, err := allLeases(tx)
		if err != nil {
			return err
		}
		if users := usersOf(ls, n.ID); len(users) > 0 {
			return fmt.Errorf("network %s: in use by %s", n.Name, strings.Join(users, ", "))
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
		ls, err := allLeases(tx)
		if err != nil {
			return err
		}
		var taken []HeldPort
		for _, l := range ls {
			if l.ContainerID != r.ContainerID {
				for _, p := range l.Ports {
					taken = append(taken, HeldPort{p, l.ContainerName})
				}
				continue
			}
			if l.NetworkID != n.ID {
				continue
			}
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
		if ports, err = AssignPorts(r.Ports, taken, probe); err != nil {
			return err
		}
		b := tx.Bucket([]byte(metadata.BucketLeases))
		if b == nil {
			if b, err = tx.CreateBucketIfNotExists([]byte(metadata.BucketLeases)); err != nil {
				return err
			}
		}
		pick := func(sub netip.Prefix, gw, want netip.Addr, flag string) (netip.Addr, error) {
			if want.IsValid() {
				want = want.Unmap()
				if !usable(sub, want) || want == gw {
					return netip.Addr{}, fmt.Errorf("%s %s: not a free host address of network %s's subnet %s", flag, want, n.Name, sub)
				}
				if v := b.Get([]byte(leaseKey(n.ID, want))); v != nil {
					return netip.Addr{}, fmt.Errorf("%s %s: already in use on network %s", flag, want, n.Name)
				}
				return want, nil
			}
			// The lowest free address; IPv6 tries the first 2^16.
			for a, i := sub.Masked().Addr().Next(), 0; usable(sub, a) && i < 1<<16; a, i = a.Next(), i+1 {
				if a != gw && b.Get([]byte(leaseKey(n.ID, a))) == nil {
					return a, nil
				}
			}
			return netip.Addr{}, fmt.Errorf("network %s: no free address left in %s", n.Name, sub)
		}
		var a4, a6 netip.Addr
		if n.Driver == DriverAlias {
			// Given addresses only, on the host's interface.
			if len(ports) > 0 {
				return fmt.Errorf("-p: network %s has no port mapping (the container listens on its own address)", n.Name)
			}
			for _, x := range []struct {
				want netip.Addr
				flag string
				dst  *netip.Addr
			}{{r.Addr, "--ip", &a4}, {r.Addr6, "--ip6", &a6}} {
				if !x.want.IsValid() {
					continue
				}
				a := x.want.Unmap()
				if !a.IsGlobalUnicast() {
					return fmt.Errorf("%s %s: not a unicast address a jail can use", x.flag, a)
				}
				if b.Get([]byte(leaseKey(n.ID, a))) != nil {
					return fmt.Errorf("%s %s: already in use on network %s", x.flag, a, n.Name)
				}
				*x.dst = a
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
			l := Lease{NetworkID: n.ID, Network: n.Name, Addr: a, ContainerID: r.ContainerID,
				ContainerName: r.ContainerName, Created: now}
			if a == a4 {
				l.Ports = ports
			}
			if err := metadata.PutJSON(tx, metadata.BucketLeases, leaseKey(n.ID, a), l); err != nil {
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

// Release drops every lease of the container; it reports how many. A
// container without leases (most: --network none, host, or a create that
// failed early) costs a read, not a write transaction and its syncs.
// It reads every lease: ReleaseEndpoints finds a container's by key.
func (s *Store) Release(ctx context.Context, containerID string) (int, error) {
	return s.release(ctx, func(tx *bolt.Tx) ([]string, error) {
		var own []string
		err := metadata.ForEachJSON(tx, metadata.BucketLeases, func(k string, l *Lease) error {
			if l.ContainerID == containerID {
				own = append(own, k)
			}
			return nil
		})
		return own, err
	})
}

// ReleaseEndpoints drops the container's leases at its endpoints'
// addresses (eps, on networks): looked up by key, not by reading every
// lease, for a container whose create recorded them (an endpoint whose
// network is not in networks makes it Release). A key that holds another
// container's lease is left alone. It reports how many it dropped; none
// held costs a read, not a write transaction.
func (s *Store) ReleaseEndpoints(ctx context.Context, containerID string, eps []Endpoint, networks []*Network) (int, error) {
	ids := map[string]string{}
	for _, n := range networks {
		if n != nil {
			ids[n.Name] = n.ID
		}
	}
	var keys []string
	for _, ep := range eps {
		id, ok := ids[ep.Network]
		if !ok {
			return s.Release(ctx, containerID) // no key without the network's id
		}
		for _, a := range []netip.Prefix{ep.Addr, ep.Addr6} {
			if a.IsValid() {
				keys = append(keys, leaseKey(id, a.Addr()))
			}
		}
	}
	return s.release(ctx, func(tx *bolt.Tx) ([]string, error) {
		b := tx.Bucket([]byte(metadata.BucketLeases))
		if b == nil {
			return nil, nil
		}
		var own []string
		for _, k := range keys {
			v := b.Get([]byte(k))
			if v == nil {
				continue
			}
			var l Lease
			if err := json.Unmarshal(v, &l); err != nil {
				return nil, fmt.Errorf("lease %s: %w", k, err)
			}
			if l.ContainerID == containerID {
				own = append(own, k)
			}
		}
		return own, nil
	})
}

// release deletes the leases whose keys own finds: in a read
// transaction first, so that finding none writes nothing, then again in
// the write transaction that deletes them. It reports how many.
func (s *Store) release(ctx context.Context, own func(*bolt.Tx) ([]string, error)) (int, error) {
	var keys []string
	err := s.DB.View(ctx, func(tx *bolt.Tx) error {
		var err error
		keys, err = own(tx)
		return err
	})
	if err != nil || len(keys) == 0 {
		return 0, err
	}
	err = s.DB.Update(ctx, func(tx *bolt.Tx) error {
		var err error
		if keys, err = own(tx); err != nil || len(keys) == 0 {
			return err
		}
		b := tx.Bucket([]byte(metadata.BucketLeases))
		for _, k := range keys {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
	return len(keys), err
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
