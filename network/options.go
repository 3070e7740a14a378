package network

import (
	"fmt"
	"net/netip"

	"github.com/stockade/stockade/network/dns"
)

// HookName is the network hook's name: its key in Container.Extensions.
const HookName = "network"

// Options is a container's network request, as `run` and `create` put it
// in Container.Extensions["network"].
type Options struct {
	// Network is a network's name, ModeHost, ModeNone, ModeBridge or empty
	// (both the default network).
	Network string `json:"network,omitempty"`
	// IP and IP6 are --ip and --ip6.
	IP  netip.Addr `json:"ip,omitzero"`
	IP6 netip.Addr `json:"ip6,omitzero"`
	// Aliases are --network-alias.
	Aliases []string `json:"aliases,omitempty"`
	// Publish are the -p specs as typed; PublishAll is -P, publishing
	// Exposed, the image's exposed ports ("80/tcp").
	Publish    []string `json:"publish,omitempty"`
	PublishAll bool     `json:"publishAll,omitempty"`
	Exposed    []string `json:"exposed,omitempty"`
	// DNS, DNSSearch and DNSOptions override the resolv.conf entries;
	// AddHosts are --add-host NAME:IP lines for /etc/hosts.
	DNS        []string `json:"dns,omitempty"`
	DNSSearch  []string `json:"dnsSearch,omitempty"`
	DNSOptions []string `json:"dnsOptions,omitempty"`
	AddHosts   []string `json:"addHosts,omitempty"`
	// MAC is --mac-address.
	MAC string `json:"mac,omitempty"`
}

// Extension is what the hook keeps in the container record: the request,
// and after create the endpoints it made.
type Extension struct {
	Options
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// Networks are the endpoints' networks as they were at create, so
	// that starts and stops need not read the store.
	Networks []*Network `json:"networks,omitempty"`
}

// Managed reports whether the hook attaches the container (false for host
// and none, which the bundle handles).
func (o *Options) Managed() bool { return o.Network != ModeHost && o.Network != ModeNone }

// BundleMode is the bundle's Network option for the request: host for
// host; otherwise none, a stack of the container's own that the hook then
// attaches to its network.
func (o *Options) BundleMode() string {
	if o.Network == ModeHost {
		return ModeHost
	}
	return ModeNone
}

// Validate checks what can be checked without the store: names, addresses,
// port specs, the MAC. Errors name the flag and the value.
func (o *Options) Validate() error {
	if _, alias := AliasInterface(o.Network); alias {
		if err := validateAliasNetwork(o.Network); err != nil {
			return err
		}
		if !o.IP.IsValid() && !o.IP6.IsValid() {
			return fmt.Errorf("--network %s: give the container's address with --ip or --ip6", o.Network)
		}
		if len(o.Publish) > 0 || o.PublishAll {
			return fmt.Errorf("-p: not with --network %s (the container listens on its own address)", o.Network)
		}
	} else if o.Network != "" && o.Network != ModeHost && o.Network != ModeNone && o.Network != ModeBridge {
		if err := ValidateName(o.Network); err != nil {
			return fmt.Errorf("--network: %w", err)
		}
	}
	if !o.Managed() {
		switch {
		case o.IP.IsValid() || o.IP6.IsValid():
			return fmt.Errorf("--ip: not with --network %s", o.Network)
		case len(o.Publish) > 0 || o.PublishAll:
			return fmt.Errorf("-p: not with --network %s", o.Network)
		case len(o.Aliases) > 0:
			return fmt.Errorf("--network-alias: not with --network %s", o.Network)
		case o.MAC != "":
			return fmt.Errorf("--mac-address: not with --network %s", o.Network)
		}
	}
	if o.IP.IsValid() && !o.IP.Unmap().Is4() {
		return fmt.Errorf("--ip %s: not an IPv4 address", o.IP)
	}
	if o.IP6.IsValid() && (!o.IP6.Is6() || o.IP6.Is4In6()) {
		return fmt.Errorf("--ip6 %s: not an IPv6 address", o.IP6)
	}
	for _, a := range o.Aliases {
		if err := ValidateAlias(a); err != nil {
			return err
		}
	}
	for _, p := range o.Publish {
		if _, err := ParsePortSpec(p); err != nil {
			return err
		}
	}
	for _, d := range o.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			return fmt.Errorf("--dns %q: not an IP address", d)
		}
	}
	for _, h := range o.AddHosts {
		if _, err := dns.ParseAddHost(h, netip.IPv4Unspecified()); err != nil {
			return err
		}
	}
	if o.MAC != "" {
		if _, err := ParseMAC(o.MAC); err != nil {
			return err
		}
	}
	return nil
}

// specs returns the container's port specs: -p, then -P's exposed ports.
func (o *Options) specs() ([]PortSpec, error) {
	var out []PortSpec
	for _, p := range o.Publish {
		sp, err := ParsePortSpec(p)
		if err != nil {
			return nil, err
		}
		out = append(out, sp)
	}
	if o.PublishAll {
		ex, err := ExposedSpecs(o.Exposed)
		if err != nil {
			return nil, err
		}
		out = append(out, ex...)
	}
	return out, nil
}
