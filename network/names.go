package network

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
)

// Names of the network modes the command line accepts besides networks.
const (
	// ModeHost and ModeNone are handled by the bundle: the host's stack,
	// or a stack of the container's own with loopback only.
	ModeHost = "host"
	ModeNone = "none"
	// ModeBridge is docker's name for the default network.
	ModeBridge = "bridge"
	// DefaultName is the default network's name.
	DefaultName = "stockade"
	// DriverBridge is the driver of bridge networks.
	DriverBridge = "bridge"
	// DriverAlias is the driver of alias networks (FreeBSD): jails
	// without vnet whose addresses are aliases on a host interface. Such a
	// network is named AliasPrefix+IFACE and made on first use.
	DriverAlias = "alias"
	// AliasPrefix starts the name of an alias network: alias:IFACE.
	AliasPrefix = "alias:"
)

var ifaceRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_.]{0,14}$`) }) // compiled on first use, not in every command's init

// AliasInterface reports whether name is an alias network's, alias:IFACE,
// and returns IFACE.
func AliasInterface(name string) (string, bool) {
	return strings.CutPrefix(name, AliasPrefix)
}

// validateAliasNetwork checks an alias:IFACE network name.
func validateAliasNetwork(name string) error {
	iface, _ := AliasInterface(name)
	if !ifaceRE().MatchString(iface) {
		return fmt.Errorf("--network %q: %q is not an interface name", name, iface)
	}
	return nil
}

var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`) }) // compiled on first use, not in every command's init

// ValidateName checks a network's name: letters, digits, '_', '.', '-'
// (not first), at most 64 characters, and none of host, none, bridge.
func ValidateName(name string) error {
	if !nameRE().MatchString(name) {
		return fmt.Errorf("network name %q: want letters, digits, '_', '.' or '-', starting with a letter or digit, at most 64 characters", name)
	}
	switch name {
	case ModeHost, ModeNone, ModeBridge:
		return fmt.Errorf("network name %q: reserved", name)
	}
	return nil
}

var aliasRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9_.-]{0,251}[a-zA-Z0-9])?$`) }) // compiled on first use, not in every command's init

// ValidateAlias checks a --network-alias: a DNS name.
func ValidateAlias(a string) error {
	if !aliasRE().MatchString(a) {
		return fmt.Errorf("--network-alias %q: not a host name", a)
	}
	return nil
}

// BridgeName is the host interface of a bridge network: "stk-" and the
// first 8 hex digits of the network's id (12 characters, which Linux and
// FreeBSD interface names both allow). The default network is named so
// too: several stockade stores on one host (tests, or a second --root)
// each have a default network, and their bridges must not meet.
func BridgeName(n *Network) string {
	return "stk-" + n.ID[:8]
}

// HostIfName is the host end of a container's interface: "stv" and the
// first 12 hex digits of the container's id (15 characters).
func HostIfName(containerID string) string {
	id := containerID
	if len(id) > 12 {
		id = id[:12]
	}
	return "stv" + id
}

// NewMAC returns a random locally administered unicast MAC address.
func NewMAC() (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[0] = b[0]&0xfe | 0x02
	return net.HardwareAddr(b[:]).String(), nil
}

// ParseMAC checks a --mac-address: six bytes, unicast.
func ParseMAC(s string) (string, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return "", fmt.Errorf("--mac-address %q: not a MAC address (want for example 02:42:ac:11:00:02)", s)
	}
	if hw[0]&1 != 0 {
		return "", fmt.Errorf("--mac-address %q: a multicast address", s)
	}
	return hw.String(), nil
}

// newID returns 64 random hex digits.
func newID() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}
