package network

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/network/dns"
)

// containerFiles are the contents of a container's /etc/resolv.conf,
// /etc/hosts and /etc/hostname.
type containerFiles struct {
	resolv, hosts, hostname []byte
}

// makeFiles builds a container's name files with package dns's rules: its
// own addresses under its hostname and aliases in /etc/hosts, then the
// --add-host lines; the network's name server (the gateway) in
// resolv.conf, or the --dns servers, with the host's search list and
// options unless told otherwise.
func (m *Manager) makeFiles(hostname string, n *Network, ep *Endpoint, ext *Extension) (containerFiles, error) {
	var self []netip.Addr
	for _, p := range []netip.Prefix{ep.Addr, ep.Addr6} {
		if p.IsValid() {
			self = append(self, p.Addr())
		}
	}
	entries := dns.SelfEntries(self, append([]string{hostname}, ep.Aliases...)...)
	for _, h := range ext.AddHosts {
		e, err := dns.ParseAddHost(h, n.Gateway)
		if err != nil {
			return containerFiles{}, err
		}
		entries = append(entries, e)
	}
	host, err := dns.ReadResolvConf(m.hostResolvConf())
	if err != nil {
		return containerFiles{}, err
	}
	var servers []netip.Addr
	if m.StartDNS != nil && n.Gateway.IsValid() {
		servers = []netip.Addr{n.Gateway}
	}
	rc, err := dns.ContainerResolvConf(host, dns.ContainerDNS{NetworkServers: servers, DNS: ext.DNS, Search: ext.DNSSearch, Options: ext.DNSOptions})
	if err != nil {
		return containerFiles{}, err
	}
	return containerFiles{resolv: rc.Bytes(), hosts: dns.Hosts(entries), hostname: dns.Hostname(hostname)}, nil
}

// unmanagedFiles gives a container on --network host or none the name
// files its --dns, --dns-search, --dns-option and --add-host ask for
// (nothing when it asked for none: the bundle handles those modes).
func (m *Manager) unmanagedFiles(c *engine.Container, ext *Extension, spec *specs.Spec) error {
	if len(ext.DNS)+len(ext.DNSSearch)+len(ext.DNSOptions)+len(ext.AddHosts) == 0 {
		return nil
	}
	var entries []dns.HostEntry
	for _, h := range ext.AddHosts {
		e, err := dns.ParseAddHost(h, netip.Addr{})
		if err != nil {
			return err
		}
		entries = append(entries, e)
	}
	host, err := dns.ReadResolvConf(m.hostResolvConf())
	if err != nil {
		return err
	}
	rc, err := dns.ContainerResolvConf(host, dns.ContainerDNS{HostNetwork: ext.Network == ModeHost,
		DNS: ext.DNS, Search: ext.DNSSearch, Options: ext.DNSOptions})
	if err != nil {
		return err
	}
	dir := m.FilesDir(c.ID)
	files := containerFiles{resolv: rc.Bytes(), hosts: dns.Hosts(entries)}
	if err := files.write(dir); err != nil {
		return fmt.Errorf("container %s: network files: %w", c.Name, err)
	}
	for _, f := range []string{"resolv.conf", "hosts"} {
		addBind(spec, filepath.Join(dir, f), "/etc/"+f, m.GOOS)
	}
	return nil
}

// writeFiles writes the container's resolv.conf, hosts and hostname and
// bind-mounts them over the image's.
func (m *Manager) writeFiles(c *engine.Container, n *Network, ep *Endpoint, ext *Extension, spec *specs.Spec) error {
	hostname := c.ID[:min(12, len(c.ID))]
	if spec.Hostname != "" {
		hostname = spec.Hostname
	}
	files, err := m.makeFiles(hostname, n, ep, ext)
	if err != nil {
		return err
	}
	dir := m.FilesDir(c.ID)
	if err := files.write(dir); err != nil {
		return fmt.Errorf("container %s: network files: %w", c.Name, err)
	}
	for _, f := range []string{"resolv.conf", "hosts", "hostname"} {
		addBind(spec, filepath.Join(dir, f), "/etc/"+f, m.GOOS)
	}
	return nil
}

func (m *Manager) hostResolvConf() string {
	if m.HostResolvConf != "" {
		return m.HostResolvConf
	}
	return "/etc/resolv.conf"
}

// write puts the files in dir, each replaced atomically.
func (f containerFiles) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, x := range []struct {
		name string
		data []byte
	}{{"resolv.conf", f.resolv}, {"hosts", f.hosts}, {"hostname", f.hostname}} {
		if x.data == nil {
			continue
		}
		tmp := filepath.Join(dir, "."+x.name)
		if err := os.WriteFile(tmp, x.data, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, x.name)); err != nil {
			return err
		}
	}
	return nil
}
