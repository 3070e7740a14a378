package freebsd

import (
	"github.com/stockade/stockade/network"
)

// Interface groups that mark the host objects as stockade's, so that Check
// tells them from the admin's (ifconfig -g GROUP lists a group's members).
// The bridge group also gives pf the addresses of every stockade network
// at once: (stockade:network).
const (
	bridgeGroup   = "stockade"
	endpointGroup = "stockadeif"
)

// Anchor is the pf anchor under which every rule of stockade's lives; the
// admin's pf.conf evaluates its children with nat-anchor, rdr-anchor and
// anchor "stockade/*".
const Anchor = "stockade"

// DriverAlias is the driver of alias networks: jails without vnet whose
// addresses are aliases on a host interface.
const DriverAlias = "alias"

// bridgeName is the bridge of a bridge network: n.Interface, or the
// model's name for it when the network names none.
func bridgeName(n *network.Network) string {
	if n.Interface != "" {
		return n.Interface
	}
	return network.BridgeName(n)
}

// HostIfName is the host end of a container's epair on a network: "stke",
// 7 hex digits of the container's id and 4 of the network's (15
// characters, the most an interface name may have), so that a container
// on two networks has two distinct epairs.
func HostIfName(containerID, networkID string) string {
	return "stke" + short(containerID, 7) + short(networkID, 4)
}

func hostIfName(n *network.Network, ep *network.Endpoint) string {
	if ep.HostIf != "" {
		return ep.HostIf
	}
	return HostIfName(ep.ContainerID, n.ID)
}

// ifName is the interface's name in the jail ("eth0" unless the model
// chose another).
func ifName(ep *network.Endpoint) string {
	if ep.IfName != "" {
		return ep.IfName
	}
	return "eth0"
}

// networkAnchor holds a network's NAT and isolation rules.
func networkAnchor(n *network.Network) string {
	return Anchor + "/net-" + short(n.ID, 12)
}

// endpointAnchor holds a container's published ports on one network.
func endpointAnchor(n *network.Network, ep *network.Endpoint) string {
	return Anchor + "/ep-" + short(ep.ContainerID, 12) + "-" + short(n.ID, 8)
}

func short(id string, n int) string {
	if len(id) > n {
		return id[:n]
	}
	return id
}
