package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/network/proxy"
)

// Manager is the network's engine.Hook: it leases addresses at create,
// attaches containers to their networks before they run, detaches them
// when they stop and frees their addresses when they go. It is also an
// engine.HookChecker.
type Manager struct {
	Store *Store
	// Driver makes networks real on this OS; nil when the OS has none,
	// and then only --network host and none work.
	Driver Driver
	// Routes are the host's routes the default network's subnet avoids.
	Routes RouteReader
	// Ports probes host ports; BindProbe when nil.
	Ports PortProbe
	// DataDir holds each container's generated /etc files, in
	// DataDir/<container id>.
	DataDir string
	// StateDir holds the containers' network namespaces (Linux), in
	// StateDir/netns/<short id>.
	StateDir string
	// HostResolvConf is the host's resolv.conf (search domains and
	// options are copied from it); "/etc/resolv.conf" when empty.
	HostResolvConf string
	// GOOS is the OS the bundles are for (the shape of bind mounts).
	GOOS string
	// StartDNS starts network n's name server unless one runs; nil leaves
	// containers with the host's name servers.
	StartDNS func(ctx context.Context, n *Network) error
	Log      *slog.Logger
}

var (
	_ engine.Hook        = (*Manager)(nil)
	_ engine.HookChecker = (*Manager)(nil)
)

// Name is HookName.
func (m *Manager) Name() string { return HookName }

func (m *Manager) logger() *slog.Logger {
	if m.Log != nil {
		return m.Log
	}
	return slog.Default()
}

func (m *Manager) probe() PortProbe {
	if m.Ports != nil {
		return m.Ports
	}
	return BindProbe{}
}

// FilesDir is where a container's resolv.conf, hosts and hostname are.
func (m *Manager) FilesDir(containerID string) string { return filepath.Join(m.DataDir, containerID) }

// NetNSPath is the Linux network namespace of a container.
func (m *Manager) NetNSPath(containerID string) string {
	id := containerID
	if len(id) > 12 {
		id = id[:12]
	}
	return filepath.Join(m.StateDir, "netns", id)
}

func (m *Manager) sandbox(c *engine.Container, pid int) Sandbox {
	return Sandbox{ContainerID: c.ID, NetNS: m.NetNSPath(c.ID), Pid: pid}
}

// ContainerExtension reads the network extension of a container record.
func ContainerExtension(c *engine.Container) (*Extension, error) {
	var ext Extension
	if _, err := c.Extension(HookName, &ext); err != nil {
		return nil, err
	}
	return &ext, nil
}

func (m *Manager) routes() RouteReader {
	if m.Routes != nil {
		return m.Routes
	}
	return HostRoutes{}
}

// network returns an endpoint's network: the copy the container's record
// keeps (a network cannot change or go while a container holds an
// address on it), else the store's.
func (m *Manager) network(ctx context.Context, ext *Extension, name string) (*Network, error) {
	for _, n := range ext.Networks {
		if n != nil && n.Name == name {
			return n, nil
		}
	}
	return m.Store.Get(ctx, name)
}

// Create leases the container's addresses and host ports, writes its
// /etc files, mounts them in the spec and lets the driver adapt the spec.
func (m *Manager) Create(ctx context.Context, c *engine.Container, spec *specs.Spec) error {
	var ext Extension
	found, err := c.Extension(HookName, &ext)
	if err != nil || !found {
		return err // no request: a container made without the network (as --network none)
	}
	if err := ext.Validate(); err != nil {
		return err
	}
	if !ext.Managed() {
		return m.unmanagedFiles(c, &ext, spec)
	}
	if m.Driver == nil {
		return fmt.Errorf("--network %s: this host has no network driver (use --network host or none)", orDefault(ext.Network))
	}
	portSpecs, err := ext.specs()
	if err != nil {
		return err
	}
	mac := ext.MAC
	if mac == "" {
		if mac, err = NewMAC(); err != nil {
			return err
		}
	} else if mac, err = ParseMAC(mac); err != nil {
		return err
	}
	name := ext.Network
	if name == "" || name == ModeBridge {
		name = DefaultName
	}
	if _, alias := AliasInterface(name); alias && m.GOOS != "freebsd" {
		return fmt.Errorf("--network %s: alias networks are FreeBSD's (jails on a host interface's addresses)", name)
	}
	n, a4, a6, ports, err := m.Store.Take(ctx, LeaseRequest{Network: name, ContainerID: c.ID, ContainerName: c.Name,
		Addr: ext.IP, Addr6: ext.IP6, Ports: portSpecs, Probe: m.probe(), Routes: m.routes()})
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("--network %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return err
	}
	ep := Endpoint{ContainerID: c.ID, ContainerName: c.Name, Network: n.Name, Driver: n.Driver, IfName: "eth0",
		HostIf: HostIfName(c.ID), MAC: mac, Addr: a4, Addr6: a6, Aliases: ext.Aliases, Ports: ports}
	if err := m.writeFiles(c, n, &ep, &ext, spec); err != nil {
		return err
	}
	if err := m.Driver.Spec(&ep, m.sandbox(c, 0), spec); err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	ext.Endpoints = []Endpoint{ep}
	ext.Networks = []*Network{n}
	return c.SetExtension(HookName, &ext)
}

func orDefault(name string) string {
	if name == "" {
		return DefaultName
	}
	return name
}

// addBind mounts the file src at dst, replacing a mount of dst.
func addBind(spec *specs.Spec, src, dst, goos string) {
	mnt := specs.Mount{Destination: dst, Type: "bind", Source: src, Options: []string{"rbind", "rprivate"}}
	if goos == "freebsd" {
		mnt = specs.Mount{Destination: dst, Type: "nullfs", Source: src}
	}
	spec.Mounts = slices.DeleteFunc(spec.Mounts, func(x specs.Mount) bool { return x.Destination == dst })
	spec.Mounts = append(spec.Mounts, mnt)
}

// Prestart attaches the container when the driver attaches before the
// runtime creates it (Linux).
func (m *Manager) Prestart(ctx context.Context, c *engine.Container) error {
	if m.Driver == nil || m.Driver.AttachPhase() != BeforeCreate {
		return nil
	}
	return m.attach(ctx, c, 0)
}

// NeedsCreated reports whether the driver attaches containers after the
// runtime made their stack (FreeBSD's vnet jails): then Created runs
// between the runtime's create and start.
func (m *Manager) NeedsCreated(*engine.Container) bool {
	return m.Driver != nil && m.Driver.AttachPhase() == AfterCreate
}

// PortForwarder is a Driver that serves some published ports with
// userland forwarders in the container's monitor process (Linux's on
// [::1]) and tells which endpoints have them. A driver that is not one
// is taken to forward every published port (FreeBSD's proxies serve the
// host's own connections to each of them).
type PortForwarder interface {
	// Forwards reports whether ep has forwarders in the monitor.
	Forwards(ep *Endpoint) bool
}

// ForwarderHandOff is a PortForwarder that can pass its forwarders to
// the small idle monitor and take them back (engine.ForwarderHook).
type ForwarderHandOff interface {
	PortForwarder
	// HandOff pauses ep's forwarders and returns them; resume serves
	// them again. It fails with engine.ErrForwarding, pausing nothing,
	// while one of them forwards a connection or a UDP flow.
	HandOff(n *Network, ep *Endpoint) (ps []*proxy.Proxy, resume func(), err error)
	// Adopt serves fs as ep's forwarders until Detach; the caller closes
	// the files.
	Adopt(n *Network, ep *Endpoint, fs []Forwarder) error
}

// Forwarder is a forwarder's socket passed back from the small monitor.
type Forwarder struct {
	Proto  string
	Target netip.AddrPort
	File   *os.File
}

// NeedsMonitor reports whether c has forwarders in its monitor that
// cannot be passed to the small idle monitor: that monitor then stays
// the full one rather than hand over (engine.MonitorHook), since the
// execve would end them.
func (m *Manager) NeedsMonitor(c *engine.Container) bool {
	if m.Driver == nil {
		return false
	}
	ext, err := ContainerExtension(c)
	if err != nil {
		return false
	}
	if _, ok := m.Driver.(ForwarderHandOff); ok {
		return false
	}
	pf, exact := m.Driver.(PortForwarder)
	for i := range ext.Endpoints {
		ep := &ext.Endpoints[i]
		if exact && pf.Forwards(ep) || !exact && len(ep.Ports) > 0 {
			return true
		}
	}
	return false
}

// HandOffForwarders pauses c's forwarders and returns them, named by
// their network, for the small idle monitor (engine.ForwarderHook).
func (m *Manager) HandOffForwarders(c *engine.Container) ([]engine.Forwarder, func(), error) {
	fh, ok := m.Driver.(ForwarderHandOff)
	if !ok {
		return nil, nil, nil
	}
	ext, err := ContainerExtension(c)
	if err != nil {
		return nil, nil, err
	}
	var out []engine.Forwarder
	var resumes []func()
	resume := func() {
		for _, r := range resumes {
			r()
		}
	}
	for i := range ext.Endpoints {
		ep := &ext.Endpoints[i]
		if !fh.Forwards(ep) {
			continue
		}
		n, err := m.network(context.Background(), ext, ep.Network)
		if err != nil {
			resume()
			return nil, nil, err
		}
		ps, r, err := fh.HandOff(n, ep)
		if err != nil {
			resume()
			return nil, nil, fmt.Errorf("network %s: %w", n.Name, err)
		}
		resumes = append(resumes, r)
		for _, p := range ps {
			out = append(out, engine.Forwarder{Owner: ep.Network, Proto: p.Proto(), Target: p.Target(), Conn: p})
		}
	}
	return out, resume, nil
}

// AdoptForwarders gives the driver back the forwarders the small monitor
// served for c, by network, so that Stopped closes them.
func (m *Manager) AdoptForwarders(ctx context.Context, c *engine.Container, fs []engine.Forwarder) error {
	fh, ok := m.Driver.(ForwarderHandOff)
	if !ok {
		return fmt.Errorf("driver %s cannot adopt forwarders", m.Driver.Name())
	}
	ext, err := ContainerExtension(c)
	if err != nil {
		return err
	}
	var errs []error
	for i := range ext.Endpoints {
		ep := &ext.Endpoints[i]
		var mine []Forwarder
		for _, f := range fs {
			if file, ok := f.Conn.(*os.File); ok && f.Owner == ep.Network {
				mine = append(mine, Forwarder{Proto: f.Proto, Target: f.Target, File: file})
			}
		}
		if len(mine) == 0 {
			continue
		}
		n, err := m.network(ctx, ext, ep.Network)
		if err == nil {
			err = fh.Adopt(n, ep, mine)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("network %s: %w", ep.Network, err))
		}
	}
	return errors.Join(errs...)
}

// Created attaches the container when the driver attaches after the
// runtime made its stack (FreeBSD's vnet jail).
func (m *Manager) Created(ctx context.Context, c *engine.Container, pid int) error {
	if m.Driver == nil || m.Driver.AttachPhase() != AfterCreate {
		return nil
	}
	return m.attach(ctx, c, pid)
}

// Started does nothing: the container is attached before it runs.
func (m *Manager) Started(context.Context, *engine.Container, int) {}

func (m *Manager) attach(ctx context.Context, c *engine.Container, pid int) error {
	ext, err := ContainerExtension(c)
	if err != nil || len(ext.Endpoints) == 0 {
		return err
	}
	for i := range ext.Endpoints {
		ep := &ext.Endpoints[i]
		n, err := m.network(ctx, ext, ep.Network)
		if err != nil {
			return err
		}
		for _, p := range ep.Ports {
			if err := m.probe().Free(p); err != nil {
				return fmt.Errorf("container %s: %w", c.Name, err)
			}
		}
		t0 := time.Now()
		if err := m.Driver.Preflight(ctx, n); err != nil {
			return err
		}
		t1 := time.Now()
		if err := m.Driver.EnsureNetwork(ctx, n); err != nil {
			return fmt.Errorf("network %s: %w", n.Name, err)
		}
		t2 := time.Now()
		if err := m.Driver.Attach(ctx, n, ep, m.sandbox(c, pid)); err != nil {
			return fmt.Errorf("container %s: network %s: %w", c.Name, n.Name, err)
		}
		t3 := time.Now()
		if m.StartDNS != nil && n.Driver != DriverAlias {
			if err := m.StartDNS(ctx, n); err != nil {
				m.logger().Warn("network name server", "network", n.Name, "error", err)
			}
		}
		m.logger().Debug("attached", "container", c.Name, "network", n.Name, "addr", ep.Addr,
			"preflight", t1.Sub(t0), "ensure", t2.Sub(t1), "attach", t3.Sub(t2), "dns", time.Since(t3))
	}
	return nil
}

// Stopped detaches the container; its addresses stay leased.
func (m *Manager) Stopped(ctx context.Context, c *engine.Container) {
	if err := m.detach(ctx, c); err != nil {
		m.logger().Warn("detach from network", "container", c.Name, "error", err)
	}
}

func (m *Manager) detach(ctx context.Context, c *engine.Container) error {
	ext, err := ContainerExtension(c)
	if err != nil || len(ext.Endpoints) == 0 || m.Driver == nil {
		return err
	}
	var errs []error
	for i := range ext.Endpoints {
		ep := &ext.Endpoints[i]
		n, err := m.network(ctx, ext, ep.Network)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := m.Driver.Detach(ctx, n, ep, m.sandbox(c, 0)); err != nil {
			errs = append(errs, fmt.Errorf("network %s: %w", n.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Remove detaches the container, frees its leases and deletes its files.
// It works from the container's id alone when a create failed before the
// endpoints were recorded.
func (m *Manager) Remove(ctx context.Context, c *engine.Container) error {
	errs := []error{m.detach(ctx, c)}
	// A container recorded on the host's stack or on none never held a
	// lease: no transaction (one was in every `run --rm --network none`'s
	// removal). Any other's leases are its keys in the container index
	// (Store.Release), whether or not its create recorded its endpoints.
	var ext Extension
	if found, err := c.Extension(HookName, &ext); err != nil || !found || ext.Managed() {
		if _, err := m.Store.Release(ctx, c.ID); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(m.FilesDir(c.ID)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Check finds leases and files of containers that no longer exist and,
// through the driver, host objects that belong to no network or running
// container; repair removes them.
func (m *Manager) Check(ctx context.Context, containers []*engine.Container, repair bool) ([]engine.Problem, error) {
	byID := map[string]*engine.Container{}
	var attached []*Endpoint
	for _, c := range containers {
		byID[c.ID] = c
		if !c.State.Running() {
			continue
		}
		ext, err := ContainerExtension(c)
		if err != nil {
			continue
		}
		for i := range ext.Endpoints {
			attached = append(attached, &ext.Endpoints[i])
		}
	}
	var problems []engine.Problem
	add := func(what, issue string, fix func() error) {
		p := engine.Problem{What: what, Issue: issue}
		if repair {
			if err := fix(); err != nil {
				p.Error = err.Error()
			} else {
				p.Repaired = true
			}
		}
		problems = append(problems, p)
	}
	leases, err := m.Store.Leases(ctx)
	if err != nil {
		return nil, err
	}
	released := map[string]bool{}
	for _, l := range leases {
		if byID[l.ContainerID] != nil {
			continue
		}
		id := l.ContainerID
		add(fmt.Sprintf("lease %s on network %s", l.Addr, l.Network),
			fmt.Sprintf("held by container %s, which no longer exists", l.ContainerName),
			func() error {
				if released[id] {
					return nil
				}
				released[id] = true
				_, err := m.Store.Release(ctx, id)
				return err
			})
	}
	if entries, err := os.ReadDir(m.DataDir); err == nil {
		for _, e := range entries {
			if byID[e.Name()] == nil {
				dir := filepath.Join(m.DataDir, e.Name())
				add(dir, "network files of a container that no longer exists", func() error { return os.RemoveAll(dir) })
			}
		}
	}
	if m.Driver != nil {
		nets, err := m.Store.List(ctx)
		if err != nil {
			return problems, err
		}
		dp, err := m.Driver.Check(ctx, nets, attached, repair)
		for _, p := range dp {
			problems = append(problems, engine.Problem{What: p.What, Issue: p.Issue, Repaired: p.Repaired, Error: p.Error})
		}
		if err != nil {
			return problems, fmt.Errorf("network driver %s: %w", m.Driver.Name(), err)
		}
	}
	return problems, nil
}

// RemoveNetwork deletes a network: refused while containers use it; then
// its host side goes.
func (m *Manager) RemoveNetwork(ctx context.Context, name string) error {
	n, err := m.Store.Delete(ctx, name)
	if err != nil {
		return err
	}
	if m.Driver != nil {
		if err := m.Driver.RemoveNetwork(ctx, n); err != nil {
			return fmt.Errorf("network %s: %w", n.Name, err)
		}
	}
	return nil
}
