package dns

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// ResolvConfig is what a resolv.conf says: the resolvers, the search list
// and the options.
type ResolvConfig struct {
	Nameservers []netip.Addr
	Search      []string
	Options     []string
}

// ParseResolvConf reads a resolv.conf the way the C resolvers do: comments
// start with '#' or ';', the last "search" or "domain" line wins, and a
// line that cannot be used (a nameserver that is not an address, an
// unknown keyword) is skipped, not an error.
func ParseResolvConf(r io.Reader) (ResolvConfig, error) {
	var rc ResolvConfig
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if a, err := netip.ParseAddr(f[1]); err == nil {
				rc.Nameservers = append(rc.Nameservers, a)
			}
		case "domain":
			rc.Search = []string{f[1]}
		case "search":
			rc.Search = slices.Clone(f[1:])
		case "options":
			rc.Options = append(rc.Options, f[1:]...)
		}
	}
	if err := sc.Err(); err != nil {
		return ResolvConfig{}, fmt.Errorf("read resolv.conf: %w", err)
	}
	return rc, nil
}

// ReadResolvConf parses the file at path (the host's is /etc/resolv.conf).
// A missing file is an empty configuration, as for the C resolvers.
func ReadResolvConf(path string) (ResolvConfig, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return ResolvConfig{}, nil
	}
	if err != nil {
		return ResolvConfig{}, fmt.Errorf("read resolv.conf: %w", err)
	}
	defer f.Close()
	rc, err := ParseResolvConf(f)
	if err != nil {
		return ResolvConfig{}, fmt.Errorf("%s: %w", path, err)
	}
	return rc, nil
}

// Upstreams are the host's resolvers as a Server on the host reaches them,
// "IP:53" in the file's order. Loopback resolvers (systemd-resolved's
// 127.0.0.53, a local unbound on 127.0.0.1) are kept since the server runs
// on the host; the unspecified address and the server's own addresses
// (self: the network gateways, which would loop) are dropped, and so are
// duplicates.
func Upstreams(host ResolvConfig, self []netip.Addr) []string {
	var out []string
	for _, a := range host.Nameservers {
		if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || slices.Contains(self, a.Unmap()) {
			continue
		}
		s := netip.AddrPortFrom(a.Unmap(), 53).String()
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// ContainerDNS is what a container asked for and where it is.
type ContainerDNS struct {
	// NetworkServers are the DNS addresses of the container's network
	// (its gateways, where the network's Server listens); empty with
	// --network host or none.
	NetworkServers []netip.Addr
	// HostNetwork is set with --network host: the container shares the
	// host's loopback, so the host's loopback resolvers work there.
	HostNetwork bool
	// DNS, Search and Options are --dns, --dns-search and --dns-option as
	// typed.
	DNS     []string
	Search  []string
	Options []string
	// Domain is the network domain (Config.Domain); empty means
	// DefaultDomain.
	Domain string
}

// ContainerResolvConf is the resolv.conf a container gets.
//
// Nameservers: the network's DNS addresses, then the --dns servers. With
// no network server, the --dns servers, else the host's resolvers that
// the container can reach (loopback and link-local ones only with
// --network host). The C resolvers use the first three.
// Search: the network domain first when the network serves names, then
// --dns-search when given ("." alone means none), else the host's.
// Options: --dns-option when given, else the host's.
//
// A --dns that is not an IP address or a --dns-search that is not a domain
// name is an error naming it.
func ContainerResolvConf(host ResolvConfig, c ContainerDNS) (ResolvConfig, error) {
	var rc ResolvConfig
	rc.Nameservers = append(rc.Nameservers, c.NetworkServers...)
	for _, d := range c.DNS {
		a, err := netip.ParseAddr(strings.TrimSpace(d))
		if err != nil {
			return ResolvConfig{}, fmt.Errorf("--dns %q: not an IP address", d)
		}
		if !slices.Contains(rc.Nameservers, a) {
			rc.Nameservers = append(rc.Nameservers, a)
		}
	}
	if len(c.NetworkServers) == 0 && len(c.DNS) == 0 {
		for _, a := range host.Nameservers {
			// Loopback and zoned (link-local) resolvers are the host's own
			// stack's.
			if a.IsUnspecified() || ((a.IsLoopback() || a.Zone() != "") && !c.HostNetwork) {
				continue
			}
			rc.Nameservers = append(rc.Nameservers, a)
		}
	}

	if len(c.NetworkServers) > 0 {
		rc.Search = append(rc.Search, cmp.Or(strings.Trim(c.Domain, "."), DefaultDomain))
	}
	search := host.Search
	if len(c.Search) > 0 {
		search = nil
		if !(len(c.Search) == 1 && c.Search[0] == ".") {
			for _, d := range c.Search {
				if !validHostName(d) { // as docker's --dns-search check
					return ResolvConfig{}, fmt.Errorf("--dns-search %q: not a domain name", d)
				}
				search = append(search, strings.TrimSuffix(d, "."))
			}
		}
	}
	for _, d := range search {
		if !slices.Contains(rc.Search, d) {
			rc.Search = append(rc.Search, d)
		}
	}

	rc.Options = host.Options
	if len(c.Options) > 0 {
		rc.Options = nil
		for _, o := range c.Options {
			if o == "" || strings.ContainsAny(o, " \t\n") {
				return ResolvConfig{}, fmt.Errorf("--dns-option %q: not a resolver option", o)
			}
			rc.Options = append(rc.Options, o)
		}
	}
	return rc, nil
}

// Bytes is rc as a resolv.conf.
func (rc ResolvConfig) Bytes() []byte {
	return ResolvConf(rc.Nameservers, rc.Search, rc.Options)
}

// ResolvConf is a resolv.conf with the given resolvers, search list and
// options, in that order, with a header saying who wrote it.
func ResolvConf(nameservers []netip.Addr, search, options []string) []byte {
	var b bytes.Buffer
	b.WriteString("# Generated by stockade.\n")
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	for _, a := range nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", a)
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return b.Bytes()
}
