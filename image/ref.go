package image

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
)

// DefaultRegistry is the registry of references without a host when
// Service.DefaultRegistry is empty (Docker Hub, as Docker spells it).
const DefaultRegistry = name.DefaultRegistry

// ParseReference parses an image reference such as "alpine",
// "localhost:5000/demo:1" or "host/repo@sha256:...". A reference without a
// registry host names defaultRegistry ("" means DefaultRegistry), and one
// without tag or digest means the tag "latest".
func ParseReference(ref, defaultRegistry string) (name.Reference, error) {
	if defaultRegistry == "" {
		defaultRegistry = DefaultRegistry
	}
	r, err := name.ParseReference(strings.TrimSpace(ref), name.WithDefaultRegistry(defaultRegistry))
	if err != nil {
		return nil, fmt.Errorf("invalid reference %q: %w", ref, err)
	}
	if !repoPath().MatchString(r.Context().RepositoryStr()) {
		return nil, fmt.Errorf("invalid reference %q: bad repository name %q", ref, r.Context().RepositoryStr())
	}
	return r, nil
}

// repoPath is the distribution spec's grammar of repository names, which
// go-containerregistry checks only loosely.
var repoPath = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
})

// NormalizeName returns the full name under which an image reference is
// recorded, e.g. "localhost:5000/demo:latest".
func NormalizeName(ref, defaultRegistry string) (string, error) {
	r, err := ParseReference(ref, defaultRegistry)
	if err != nil {
		return "", err
	}
	return r.Name(), nil
}

// parseRef parses ref and decides whether its registry may be reached over
// plain HTTP: loopback registries always may, others only when plainHTTP
// is set or they are listed in insecure.
func parseRef(ref, defaultRegistry string, plainHTTP bool, insecure []string) (name.Reference, bool, error) {
	r, err := ParseReference(ref, defaultRegistry)
	if err != nil {
		return nil, false, err
	}
	allow := plainHTTP || plainHTTPAllowed(r.Context().RegistryStr(), insecure)
	if allow {
		// name.Insecure makes go-containerregistry try http after https.
		if defaultRegistry == "" {
			defaultRegistry = DefaultRegistry
		}
		r, err = name.ParseReference(strings.TrimSpace(ref), name.WithDefaultRegistry(defaultRegistry), name.Insecure)
		if err != nil {
			return nil, false, fmt.Errorf("invalid reference %q: %w", ref, err)
		}
	}
	return r, allow, nil
}

// plainHTTPAllowed reports whether host (host[:port]) is a loopback
// registry or listed in insecure (as host, host:port or CIDR).
func plainHTTPAllowed(hostport string, insecure []string) bool {
	host := hostOnly(hostport)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	if ip != nil && ip.IsLoopback() {
		return true
	}
	for _, e := range insecure {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if strings.EqualFold(e, hostport) || strings.EqualFold(e, host) {
			return true
		}
		if _, n, err := net.ParseCIDR(e); err == nil && ip != nil && n.Contains(ip) {
			return true
		}
	}
	return false
}

// hostOnly strips the port (and IPv6 brackets) from host[:port].
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}
