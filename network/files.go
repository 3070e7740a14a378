package network

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// parseAddHost parses --add-host NAME:IP (IPv6 addresses may be in
// brackets, or follow the first ':').
func parseAddHost(s string) (string, netip.Addr, error) {
	name, ip, ok := strings.Cut(s, ":")
	if !ok || name == "" {
		return "", netip.Addr{}, fmt.Errorf("--add-host %q: want NAME:IP", s)
	}
	a, err := netip.ParseAddr(strings.Trim(ip, "[]"))
	if err != nil {
		return "", netip.Addr{}, fmt.Errorf("--add-host %q: %q is not an IP address", s, ip)
	}
	if err := ValidateAlias(name); err != nil {
		return "", netip.Addr{}, fmt.Errorf("--add-host %q: %q is not a host name", s, name)
	}
	return name, a, nil
}

// containerFiles are the contents of a container's /etc/resolv.conf,
// /etc/hosts and /etc/hostname.
type containerFiles struct {
	resolv, hosts, hostname []byte
}

// hostsFile writes /etc/hosts: loopback names, the container's own
// addresses with its host name and aliases, then --add-host lines.
func hostsFile(hostname string, self []netip.Addr, aliases, addHosts []string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	names := append([]string{hostname}, aliases...)
	for _, a := range self {
		fmt.Fprintf(&b, "%s\t%s\n", a, strings.Join(names, " "))
	}
	for _, h := range addHosts {
		name, a, err := parseAddHost(h)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "%s\t%s\n", a, name)
	}
	return b.Bytes(), nil
}

// resolvFile writes /etc/resolv.conf: the --dns servers, else the
// network's DNS servers; --dns-search and --dns-option.
func resolvFile(servers []netip.Addr, dns, search, options []string) []byte {
	var b bytes.Buffer
	if len(dns) > 0 {
		for _, d := range dns {
			fmt.Fprintf(&b, "nameserver %s\n", d)
		}
	} else {
		for _, s := range servers {
			fmt.Fprintf(&b, "nameserver %s\n", s)
		}
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return b.Bytes()
}

// write puts the files in dir, each replaced atomically.
func (f containerFiles) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, data := range map[string][]byte{"resolv.conf": f.resolv, "hosts": f.hosts, "hostname": f.hostname} {
		tmp := filepath.Join(dir, "."+name)
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}
