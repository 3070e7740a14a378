// Package network is stockade's container networking: named networks,
// address management kept in the metadata store, published ports and
// names, with one Driver per OS (FreeBSD: if_bridge, epair, vnet jails and
// pf; Linux: bridge, veth, network namespaces and nftables) behind one
// interface and one conformance suite (networktest).
//
// The portable model lives in files without build tags; a driver's thin
// system layer is the only OS-specific code.
package network

import (
	"context"
	"net/netip"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Network is a named network as the metadata store keeps it.
type Network struct {
	// Name is unique; ID is 64 hex digits.
	Name string `json:"name"`
	ID   string `json:"id"`
	// Driver is "bridge" (the default), or "alias" on FreeBSD: jails that
	// share a host interface's addresses (ip4.addr, no vnet).
	Driver string `json:"driver"`
	// Interface is the host interface: the bridge of a bridge network, the
	// parent interface of an alias network.
	Interface string `json:"interface"`
	// Subnet and Gateway are the IPv4 range and the host's address on it.
	Subnet  netip.Prefix `json:"subnet"`
	Gateway netip.Addr   `json:"gateway"`
	// Subnet6 and Gateway6 are the IPv6 range; invalid when IPv6 is off.
	Subnet6  netip.Prefix `json:"subnet6,omitzero"`
	Gateway6 netip.Addr   `json:"gateway6,omitzero"`
	// Internal networks have no outbound NAT and no route out.
	Internal bool `json:"internal,omitempty"`
	// Default marks the network `run` uses when told nothing.
	Default bool              `json:"default,omitempty"`
	Created time.Time         `json:"created"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// PortMapping is one published port: HostIP:HostPort on the host forwards
// to ContainerPort in the container.
type PortMapping struct {
	// HostIP is the host address to bind; invalid means every address
	// (and 127.0.0.1 and ::1 included).
	HostIP        netip.Addr `json:"hostIP,omitzero"`
	HostPort      uint16     `json:"hostPort"`
	ContainerPort uint16     `json:"containerPort"`
	// Protocol is "tcp" or "udp".
	Protocol string `json:"protocol"`
}

// Endpoint is one container's attachment to one network: what the
// container keeps from create to rm (a stopped container keeps its
// addresses).
type Endpoint struct {
	ContainerID   string `json:"containerID"`
	ContainerName string `json:"containerName"`
	Network       string `json:"network"`
	// Driver is the network's driver (Network.Driver), for Driver.Spec,
	// which sees only the endpoint: "alias" on FreeBSD asks for a jail
	// with ip4.addr/ip6.addr instead of a vnet.
	Driver string `json:"driver,omitempty"`
	// IfName is the interface's name in the container ("eth0"); HostIf the
	// host end (a veth or an epair half), named from the container id.
	IfName string `json:"ifName"`
	HostIf string `json:"hostIf"`
	MAC    string `json:"mac"`
	// Addr and Addr6 are the container's addresses with the subnet's
	// length; Addr6 is invalid without IPv6.
	Addr  netip.Prefix `json:"addr"`
	Addr6 netip.Prefix `json:"addr6,omitzero"`
	// Aliases are extra names the container answers to on this network.
	Aliases []string      `json:"aliases,omitempty"`
	Ports   []PortMapping `json:"ports,omitempty"`
}

// Sandbox locates a container's network stack for a driver.
type Sandbox struct {
	ContainerID string
	// NetNS is the path of the container's network namespace (Linux).
	NetNS string
	// Pid is the container's process on the host, waiting to start (set
	// from the Created point on). On FreeBSD the driver finds the vnet
	// jail from it.
	Pid int
}

// Phase is the lifecycle point where a driver attaches a container.
type Phase int

const (
	// BeforeCreate: the namespace exists before the runtime creates the
	// container (Linux: a named netns given to runc by path).
	BeforeCreate Phase = iota
	// AfterCreate: the runtime makes the container's stack (FreeBSD: the
	// vnet jail), then the driver moves an interface into it.
	AfterCreate
)

// Problem is a leftover a driver found: an interface, a rule or a
// namespace that belongs to no network or endpoint stockade knows.
type Problem struct {
	What     string `json:"what"`
	Issue    string `json:"issue"`
	Repaired bool   `json:"repaired,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Driver makes networks and endpoints real on one OS. Every method is
// idempotent: it may run again after a crash left part of its work.
type Driver interface {
	// Name is the driver's name in errors ("linux", "freebsd").
	Name() string
	// Preflight reports a missing prerequisite (nftables in the kernel; pf
	// enabled with stockade's anchors in pf.conf; IP forwarding) as one
	// line that names the fix.
	Preflight(ctx context.Context, n *Network) error
	// AttachPhase says when Attach runs.
	AttachPhase() Phase
	// Spec adapts a container's spec to the endpoint before the runtime
	// sees it (Linux: the network namespace's path; FreeBSD: vnet).
	Spec(ep *Endpoint, sb Sandbox, spec *specs.Spec) error
	// EnsureNetwork creates the network's host side (bridge, addresses,
	// NAT and isolation rules) if it is missing.
	EnsureNetwork(ctx context.Context, n *Network) error
	// RemoveNetwork removes the network's host side.
	RemoveNetwork(ctx context.Context, n *Network) error
	// Attach connects a container: its interface, addresses, routes and
	// published ports.
	Attach(ctx context.Context, n *Network, ep *Endpoint, sb Sandbox) error
	// Detach undoes Attach; the endpoint's addresses stay leased.
	Detach(ctx context.Context, n *Network, ep *Endpoint, sb Sandbox) error
	// Check finds host objects of stockade's that belong to none of nets
	// and attached (the endpoints of running containers) and removes them
	// when repair is set.
	Check(ctx context.Context, nets []*Network, attached []*Endpoint, repair bool) ([]Problem, error)
}
