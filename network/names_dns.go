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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/network/dns"
)

// NameTable is what a network's name server answers: the names, short
// ids and aliases of the containers running on the network, and their
// addresses.
type NameTable struct {
	addrs map[string][]netip.Addr
	names map[netip.Addr][]string
	// upstreams are the --dns servers of containers that gave some, by
	// the containers' addresses.
	upstreams map[netip.Addr][]string
}

// BuildNames makes the name table of network from container records:
// only running containers with an endpoint on it count.
func BuildNames(network string, containers []*engine.Container) *NameTable {
	t := &NameTable{addrs: map[string][]netip.Addr{}, names: map[netip.Addr][]string{}, upstreams: map[netip.Addr][]string{}}
	for _, c := range containers {
		if !c.State.Running() {
			continue
		}
		ext, err := ContainerExtension(c)
		if err != nil {
			continue
		}
		for _, ep := range ext.Endpoints {
			if ep.Network != network {
				continue
			}
			var as []netip.Addr
			for _, p := range []netip.Prefix{ep.Addr, ep.Addr6} {
				if p.IsValid() {
					as = append(as, p.Addr())
				}
			}
			names := append([]string{c.Name, c.ID[:min(12, len(c.ID))]}, ep.Aliases...)
			for _, n := range names {
				n = strings.ToLower(n)
				for _, a := range as {
					if !slices.Contains(t.addrs[n], a) {
						t.addrs[n] = append(t.addrs[n], a)
					}
				}
			}
			var ups []string
			for _, d := range ext.DNS {
				if a, err := netip.ParseAddr(d); err == nil {
					ups = append(ups, netip.AddrPortFrom(a, 53).String())
				}
			}
			for _, a := range as {
				t.names[a] = append(t.names[a], c.Name)
				if len(ups) > 0 {
					t.upstreams[a] = ups
				}
			}
		}
	}
	return t
}

// Lookup returns the addresses of a lower-case name.
func (t *NameTable) Lookup(name string) ([]netip.Addr, bool) {
	a, ok := t.addrs[name]
	return a, ok
}

// Reverse returns the container names of an address.
func (t *NameTable) Reverse(a netip.Addr) ([]string, bool) {
	n, ok := t.names[a]
	return n, ok
}

// Upstreams returns the --dns servers of the container at a client
// address, "IP:53"; none when it gave none.
func (t *NameTable) Upstreams(client netip.Addr) []string { return t.upstreams[client.Unmap()] }

// Len is the number of names.
func (t *NameTable) Len() int { return len(t.addrs) }

// DNSService is one network's name server process: it answers from the
// container records, re-read at most every Refresh, and stops after Idle
// without a running container on the network.
type DNSService struct {
	Store   *Store
	Network string
	// Containers lists the container records.
	Containers func(ctx context.Context) ([]*engine.Container, error)
	// HostResolvConf is where the upstream resolvers are read.
	HostResolvConf string
	// Listen overrides the addresses (tests); the network's gateways on
	// port 53 when empty.
	Listen []string
	// Clients overrides who is answered (tests); the network's subnets
	// when empty, so that containers of other networks, which reach this
	// gateway as a host address, are refused.
	Clients []netip.Prefix
	// Refresh and Idle: zero means 1 second and 1 minute.
	Refresh, Idle time.Duration
	// Ready is called with the bound addresses once serving.
	Ready func([]netip.AddrPort)
	Log   *slog.Logger
	// Start binds the server of cfg: network/nameserver's Listen,
	// required. It is given rather than linked, so that the programs that
	// only attach containers link no DNS message library.
	Start func(ctx context.Context, cfg dns.Config) (NameServer, error)
}

// NameServer is a network's name server bound to its addresses
// (network/nameserver's Server).
type NameServer interface {
	// Addrs returns the bound addresses.
	Addrs() []netip.AddrPort
	// FollowResolvConf forwards to the resolvers of the file at path as
	// it changes, checked every interval (zero: a default), until ctx is
	// done.
	FollowResolvConf(ctx context.Context, path string, interval time.Duration)
	// Serve answers until ctx is done.
	Serve(ctx context.Context) error
}

// Run serves until ctx is done or the network has been idle for Idle.
func (d *DNSService) Run(ctx context.Context) error {
	n, err := d.Store.Get(ctx, d.Network)
	if err != nil {
		return err
	}
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	refresh, idle := d.Refresh, d.Idle
	if refresh == 0 {
		refresh = time.Second
	}
	if idle == 0 {
		idle = time.Minute
	}
	self := []netip.Addr{n.Gateway}
	if n.Gateway6.IsValid() {
		self = append(self, n.Gateway6)
	}
	listen := d.Listen
	if len(listen) == 0 {
		for _, a := range self {
			listen = append(listen, netip.AddrPortFrom(a, 53).String())
		}
	}
	host, err := dns.ReadResolvConf(d.HostResolvConf)
	if err != nil {
		return err
	}

	var mu sync.Mutex
	var table *NameTable
	var loaded time.Time
	current := func(ctx context.Context) *NameTable {
		mu.Lock()
		defer mu.Unlock()
		if table != nil && time.Since(loaded) < refresh {
			return table
		}
		cs, err := d.Containers(ctx)
		if err != nil {
			// The store is unreadable (or gone with its root): answer no
			// names, so that the server goes idle and exits.
			log.Warn("network name server: read containers", "network", n.Name, "error", err)
			cs = nil
		}
		table, loaded = BuildNames(n.Name, cs), time.Now()
		return table
	}
	subnets := []netip.Prefix{n.Subnet}
	if n.Subnet6.IsValid() {
		subnets = append(subnets, n.Subnet6)
	}
	clients := subnets
	if len(d.Clients) > 0 {
		clients = d.Clients
	}
	cfg := dns.Config{
		Listen:  listen,
		Lookup:  func(ctx context.Context, name string) ([]netip.Addr, bool) { return current(ctx).Lookup(name) },
		Reverse: func(ctx context.Context, a netip.Addr) ([]string, bool) { return current(ctx).Reverse(a) },
		Subnets: subnets,
		Clients: clients,
		Logger:  log,
	}
	// An internal network has no way out, for names neither: other names
	// are not forwarded (SERVFAIL).
	if !n.Internal {
		cfg.Upstreams = dns.Upstreams(host, self)
		cfg.ClientUpstreams = func(ctx context.Context, client netip.Addr) []string {
			return current(ctx).Upstreams(client)
		}
	}
	if d.Start == nil {
		return fmt.Errorf("network %s: name server: nothing to start it with", n.Name)
	}
	lctx, cancelListen := context.WithTimeout(ctx, 10*time.Second)
	srv, err := d.Start(lctx, cfg)
	cancelListen()
	if err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	if d.Ready != nil {
		d.Ready(srv.Addrs())
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	if !n.Internal {
		go srv.FollowResolvConf(sctx, d.HostResolvConf, 0)
	}
	go func() {
		last := time.Now()
		tick := time.NewTicker(min(idle/2, 5*time.Second))
		defer tick.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-tick.C:
			}
			if current(sctx).Len() > 0 {
				last = time.Now()
			} else if time.Since(last) >= idle {
				log.Info("network name server: no container running, exiting", "network", n.Name)
				stop()
				return
			}
		}
	}()
	return srv.Serve(sctx)
}

// DNSPidFile is where the name server of a network keeps its pid, under
// the state directory; its lock says the server runs.
func DNSPidFile(stateDir, network string) string {
	return filepath.Join(stateDir, "dns", network+".pid")
}

// ErrDNSRunning is returned by LockDNSPidFile when a server runs already.
var ErrDNSRunning = errors.New("a name server runs for this network already")

// LockDNSPidFile takes the pid file's lock for this process; the lock goes
// with the process. MarkDNSReady writes the pid once the server serves.
func LockDNSPidFile(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrDNSRunning
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// MarkDNSReady writes this process's pid into the locked pid file: the
// server is bound and answering.
func MarkDNSReady(f *os.File) error {
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// DNSRunning reports whether a process holds the pid file's lock.
func DNSRunning(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

// DNSReady reports whether a server holds the lock and has written its
// pid (it serves).
func DNSReady(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Size() > 0 && DNSRunning(path)
}

// StopDNS asks the name server of a network, if one runs, to exit
// (SIGTERM to the pid its locked pid file names); network rm uses it.
func StopDNS(path string) error {
	if !DNSRunning(path) {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return fmt.Errorf("%s: no pid", path)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop name server %d: %w", pid, err)
	}
	return nil
}
