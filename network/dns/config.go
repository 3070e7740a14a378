// Package dns is what a network's name server serves (Config: its
// LookupFunc, ReverseFunc and upstream resolvers) and the name files
// every container reads: /etc/resolv.conf, /etc/hosts and /etc/hostname.
//
// The server itself (package network/nameserver) runs on the host, one
// per network, listening on the network's gateway addresses (UDP and
// TCP, port 53). It answers A, AAAA and PTR queries for the names a
// LookupFunc knows, from the callback on every query and with a short
// TTL, so answers follow containers as they start, stop and move. Names
// are matched case-insensitively, bare ("web", "web.") or under the
// network domain ("web.dns.stockade."). Every other query is forwarded
// to the host's resolvers (ParseResolvConf, Upstreams).
//
// The generators (ResolvConf, Hosts, Hostname) and the parsers are pure
// functions; ContainerResolvConf is the rule for what a container on a
// network is given. This package links no DNS message library, so the
// programs that attach containers (stockade-supervisor) need none.
package dns

import (
	"context"
	"log/slog"
	"net/netip"
	"time"
)

// DefaultDomain is the network domain: a container "web" is also
// "web.dns.stockade". The server is authoritative for it (an unknown name
// under it is NXDOMAIN, never forwarded), and ContainerResolvConf puts it
// first in a container's search list so a bare name is answered on the
// first try without a query leaving the host.
const DefaultDomain = "dns.stockade"

// Defaults for the zero values of Config.
const (
	// DefaultTTL is the TTL of local answers: short, so a container that
	// stops or moves is seen within seconds by resolvers that cache.
	DefaultTTL = 2 * time.Second
	// DefaultTimeout bounds one upstream attempt (UDP and its TCP retry).
	DefaultTimeout = 2 * time.Second
	// DefaultMaxInflight is how many queries are handled at once; more are
	// answered SERVFAIL at once rather than queued.
	DefaultMaxInflight = 256
	// DefaultMaxTCPConns is how many TCP connections are open at once;
	// more wait in the kernel's accept queue.
	DefaultMaxTCPConns = 64
)

// LookupFunc returns the addresses of a name on the network: name is
// lower-case, without a trailing dot and without the network domain.
// ok is false for a name the network does not know; a known name with no
// address of the asked family is answered NOERROR with no records. It is
// called for every query of class IN, so it should be cheap.
type LookupFunc func(ctx context.Context, name string) (addrs []netip.Addr, ok bool)

// ReverseFunc returns the names of an address on the network (for PTR
// queries); ok is false for an address it does not know.
type ReverseFunc func(ctx context.Context, addr netip.Addr) (names []string, ok bool)

// Config is what a Server serves and where.
type Config struct {
	// Listen are the addresses to serve on, "IP:PORT", each over UDP and
	// TCP on the same port (port 0 picks one, for tests).
	Listen []string
	// Lookup answers names; required.
	Lookup LookupFunc
	// Reverse answers PTR queries; optional.
	Reverse ReverseFunc
	// Subnets are the network's ranges: a PTR query for an address in
	// them that Reverse does not know is NXDOMAIN, not forwarded.
	Subnets []netip.Prefix
	// Clients, when set, are the only addresses answered: a query from
	// elsewhere is REFUSED. A network's server takes the network's
	// subnets, so containers of other networks cannot list its names.
	Clients []netip.Prefix
	// Domain is the network domain; empty means DefaultDomain.
	Domain string
	// Upstreams are the resolvers other names go to, "IP:PORT", tried in
	// order (see Upstreams). Empty: other names are SERVFAIL. SetUpstreams
	// and FollowResolvConf change them while serving.
	Upstreams []string
	// ClientUpstreams, when set, names the resolvers for one client (a
	// container started with --dns): a non-empty result replaces
	// Upstreams for that query. It is called for forwarded queries only.
	ClientUpstreams func(ctx context.Context, client netip.Addr) []string
	// TTL of local answers, whole seconds; zero means DefaultTTL.
	TTL time.Duration
	// Timeout of one upstream attempt; zero means DefaultTimeout.
	Timeout time.Duration
	// MaxInflight and MaxTCPConns bound the work clients can cause; zero
	// means the defaults.
	MaxInflight int
	MaxTCPConns int
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}
