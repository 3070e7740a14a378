package linux

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/stockade/stockade/network"
)

// Linux limits interface names to 15 bytes (IFNAMSIZ less the NUL).
const maxIfName = 15

// Prefixes of the names the driver gives host objects, and of the
// interface aliases (IFLA_IFALIAS) that mark them as stockade's, so that
// Check can tell them from the admin's.
const (
	hostIfPrefix = "stkv"
	// aliasNetwork marks a bridge: "stockade-network <instance> <network
	// id>".
	aliasNetwork = "stockade-network "
	// aliasEndpoint marks a host veth: "stockade-endpoint <instance>
	// <network id> <container id>".
	aliasEndpoint = "stockade-endpoint "
)

// HostIfName is the name of a container's host-side veth on a network:
// "stkv", 7 hex digits of the container id and 4 of the network id, so
// that a container on several networks has one distinct veth on each.
func HostIfName(containerID, networkID string) string {
	return hostIfPrefix + short(containerID, 7) + short(networkID, 4)
}

// hostIfName is the host veth of ep: ep.HostIf when the model set it,
// HostIfName otherwise.
func hostIfName(n *network.Network, ep *network.Endpoint) string {
	if ep.HostIf != "" {
		return ep.HostIf
	}
	return HostIfName(ep.ContainerID, n.ID)
}

// BridgeName is the bridge of a network that names none: "stkbr" and 10 hex
// digits of its id.
func BridgeName(networkID string) string {
	return "stkbr" + short(networkID, maxIfName-5)
}

// bridgeName is n.Interface, or BridgeName when it is empty.
func bridgeName(n *network.Network) string {
	if n.Interface != "" {
		return n.Interface
	}
	return BridgeName(n.ID)
}

// ifName is the container-side name of ep's interface ("eth0" unless the
// model chose another).
func ifName(ep *network.Endpoint) string {
	if ep.IfName != "" {
		return ep.IfName
	}
	return "eth0"
}

func short(id string, n int) string {
	if len(id) > n {
		return id[:n]
	}
	return id
}

// validIfName reports whether name can be a Linux interface name.
func validIfName(name string) error {
	if name == "" || len(name) > maxIfName || name == "." || name == ".." {
		return fmt.Errorf("interface name %q: must be 1 to %d bytes", name, maxIfName)
	}
	if strings.ContainsAny(name, "/: \t\n\x00") {
		return fmt.Errorf("interface name %q: contains '/', ':' or white space", name)
	}
	return nil
}

// networkAlias and endpointAlias are the IFLA_IFALIAS values of a bridge
// and of a host veth; inst is the driver's Instance.
func networkAlias(inst string, n *network.Network) string {
	return aliasNetwork + inst + " " + n.ID
}

func endpointAlias(inst string, n *network.Network, ep *network.Endpoint) string {
	return aliasEndpoint + inst + " " + n.ID + " " + ep.ContainerID
}

// parseAlias reads an alias written by networkAlias or endpointAlias:
// kind is "network" or "endpoint", or "" for an alias that is not
// stockade's.
func parseAlias(alias string) (kind, inst, networkID, containerID string) {
	switch {
	case strings.HasPrefix(alias, aliasNetwork):
		f := strings.Fields(strings.TrimPrefix(alias, aliasNetwork))
		if len(f) != 2 {
			return "", "", "", ""
		}
		return "network", f[0], f[1], ""
	case strings.HasPrefix(alias, aliasEndpoint):
		f := strings.Fields(strings.TrimPrefix(alias, aliasEndpoint))
		if len(f) != 3 {
			return "", "", "", ""
		}
		return "endpoint", f[0], f[1], f[2]
	}
	return "", "", "", ""
}

// Instance names one stockade installation (its state directory) in the
// aliases and rule comments it writes, so that Check on one installation
// never takes another's objects for leftovers: 8 hex digits of the
// SHA-256 of the directory's absolute path.
func Instance(stateDir string) string {
	if abs, err := filepath.Abs(stateDir); err == nil {
		stateDir = abs
	}
	sum := sha256.Sum256([]byte(filepath.Clean(stateDir)))
	return hex.EncodeToString(sum[:4])
}
