package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/network"
)

// managerFor returns the network manager of a command.
func (a *app) managerFor(c *cli.Context) (*network.Manager, error) {
	svc, err := a.imageService(c)
	if err != nil {
		return nil, err
	}
	return a.parts.NetworkManager(svc.DB)
}

// stopDNS stops the name server of a removed network.
func (a *app) stopDNS(name string) {
	if err := network.StopDNS(network.DNSPidFile(a.parts.NetworkStateDir(), name)); err != nil {
		a.log.Warn("network name server", "network", name, "error", err)
	}
}

func (a *app) networkCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:  "network",
			Usage: "manage networks",
			Subcommands: []*cli.Command{
				{
					Name:      "create",
					Usage:     "create a bridge network",
					ArgsUsage: "NAME",
					Flags: []cli.Flag{
						&cli.StringFlag{Name: "subnet", Usage: "IPv4 subnet CIDR (default: a free 10.89.x.0/24)"},
						&cli.StringFlag{Name: "gateway", Usage: "IPv4 gateway, the host's address (default: the first of the subnet)"},
						&cli.BoolFlag{Name: "ipv6", Usage: "enable IPv6 (a unique local /64 unless --subnet6)"},
						&cli.StringFlag{Name: "subnet6", Usage: "IPv6 subnet CIDR"},
						&cli.StringFlag{Name: "gateway6", Usage: "IPv6 gateway"},
						&cli.BoolFlag{Name: "internal", Usage: "no outbound NAT, no route out"},
						&cli.StringSliceFlag{Name: "label", Usage: "label K=V (repeatable)"},
					},
					Action: arity(1, 1, a.networkCreate),
				},
				{
					Name:    "ls",
					Aliases: []string{"list"},
					Usage:   "list networks",
					Flags:   []cli.Flag{formatFlag(), &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "names only"}},
					Action:  arity(0, 0, a.networkList),
				},
				{
					Name:      "inspect",
					Usage:     "print networks and their containers as JSON",
					ArgsUsage: "NAME...",
					Flags:     []cli.Flag{inspectFormatFlag()},
					Action:    arity(1, -1, a.networkInspect),
				},
				{
					Name:      "rm",
					Aliases:   []string{"remove"},
					Usage:     "remove networks no container uses",
					ArgsUsage: "NAME...",
					Action:    arity(1, -1, a.networkRemove),
				},
				{
					Name:  "prune",
					Usage: "remove every network no container uses (the default network stays)",
					Flags: []cli.Flag{
						&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask for confirmation"},
					},
					Action: arity(0, 0, a.networkPruneCommand),
				},
				{
					Name:      "dns",
					Usage:     "serve a network's names (started on demand)",
					ArgsUsage: "NAME",
					Hidden:    true,
					Flags:     []cli.Flag{&cli.DurationFlag{Name: "idle", Value: time.Minute, Usage: "exit after this long without a running container"}},
					Action:    arity(1, 1, a.networkDNS),
				},
			},
		},
		{
			Name:      "port",
			Usage:     "list a container's published ports",
			ArgsUsage: "CONTAINER [PORT[/PROTO]]",
			Action:    arity(1, 2, a.port),
		},
	}
}

func (a *app) networkCreate(c *cli.Context) error {
	name := c.Args().First()
	o := network.CreateOptions{Name: name, IPv6: c.Bool("ipv6"), Internal: c.Bool("internal")}
	var err error
	if s := c.String("subnet"); s != "" {
		if o.Subnet, err = network.ParseSubnet(s, false); err != nil {
			return fmt.Errorf("--subnet: %w", err)
		}
	}
	if s := c.String("subnet6"); s != "" {
		if o.Subnet6, err = network.ParseSubnet(s, true); err != nil {
			return fmt.Errorf("--subnet6: %w", err)
		}
	}
	for _, f := range []struct {
		flag string
		dst  *netip.Addr
	}{{"gateway", &o.Gateway}, {"gateway6", &o.Gateway6}} {
		if s := c.String(f.flag); s != "" {
			if *f.dst, err = netip.ParseAddr(s); err != nil {
				return fmt.Errorf("--%s %q: not an IP address", f.flag, s)
			}
		}
	}
	for _, l := range c.StringSlice("label") {
		k, v, _ := strings.Cut(l, "=")
		if k == "" {
			return fmt.Errorf("--label %q: want K=V", l)
		}
		if o.Labels == nil {
			o.Labels = map[string]string{}
		}
		o.Labels[k] = v
	}
	if err := network.ValidateName(name); err != nil {
		return err
	}
	m, err := a.managerFor(c)
	if err != nil {
		return err
	}
	routes, err := network.HostRoutes{}.Routes(c.Context)
	if err != nil {
		return err
	}
	n, err := m.Store.Create(c.Context, o, routes)
	if err != nil {
		return err
	}
	// The host side is made now, so that a missing prerequisite is seen
	// here; a failure leaves nothing.
	if m.Driver != nil {
		err := m.Driver.Preflight(c.Context, n)
		if err == nil {
			err = m.Driver.EnsureNetwork(c.Context, n)
		}
		if err != nil {
			ctx := context.WithoutCancel(c.Context)
			m.Driver.RemoveNetwork(ctx, n)
			m.Store.Delete(ctx, n.Name)
			return fmt.Errorf("network %s: %w", n.Name, err)
		}
	}
	fmt.Fprintln(a.stdout, n.ID)
	return nil
}

// networkEntry is a network as ls and inspect show it.
type networkEntry struct {
	*network.Network
	Containers []networkContainer `json:"containers"`
}

// networkContainer is a container's endpoint on a network.
type networkContainer struct {
	Name  string                `json:"name"`
	ID    string                `json:"id"`
	State engine.Status         `json:"state"`
	MAC   string                `json:"mac"`
	Addr  netip.Prefix          `json:"addr"`
	Addr6 netip.Prefix          `json:"addr6,omitzero"`
	Ports []network.PortMapping `json:"ports,omitempty"`
}

// networkEntries lists the networks (all when names is empty) with the
// containers on them.
func (a *app) networkEntries(c *cli.Context, names []string) ([]networkEntry, error) {
	e, err := a.engine(c)
	if err != nil {
		return nil, err
	}
	store := &network.Store{DB: e.DB}
	var nets []*network.Network
	if len(names) == 0 {
		if nets, err = store.List(c.Context); err != nil {
			return nil, err
		}
	}
	for _, name := range names {
		n, err := store.Get(c.Context, name)
		if err != nil {
			return nil, err
		}
		nets = append(nets, n)
	}
	ctrs, err := e.List(c.Context)
	if err != nil {
		return nil, err
	}
	out := []networkEntry{}
	for _, n := range nets {
		entry := networkEntry{Network: n, Containers: []networkContainer{}}
		for _, ctr := range ctrs {
			ext, err := network.ContainerExtension(ctr)
			if err != nil {
				continue
			}
			for _, ep := range ext.Endpoints {
				if ep.Network == n.Name {
					entry.Containers = append(entry.Containers, networkContainer{Name: ctr.Name, ID: ctr.ID,
						State: ctr.State.Status, MAC: ep.MAC, Addr: ep.Addr, Addr6: ep.Addr6, Ports: ep.Ports})
				}
			}
		}
		out = append(out, entry)
	}
	return out, nil
}

func (a *app) networkList(c *cli.Context) error {
	asJSON, err := checkFormat(c)
	if err != nil {
		return err
	}
	entries, err := a.networkEntries(c, nil)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(a.stdout, entries)
	}
	if c.Bool("quiet") {
		for _, n := range entries {
			fmt.Fprintln(a.stdout, n.Name)
		}
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NETWORK ID\tNAME\tDRIVER\tSUBNET\tGATEWAY\tIPV6\tINTERNAL\tCONTAINERS")
	for _, n := range entries {
		v6 := "-"
		if n.Subnet6.IsValid() {
			v6 = n.Subnet6.String()
		}
		internal := "no"
		if n.Internal {
			internal = "yes"
		}
		sub, gw := "-", "-"
		if n.Subnet.IsValid() {
			sub, gw = n.Subnet.String(), n.Gateway.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", n.ID[:12], n.Name, n.Driver, sub, gw, v6, internal, len(n.Containers))
	}
	return tw.Flush()
}

func (a *app) networkInspect(c *cli.Context) error {
	entries, err := a.networkEntries(c, c.Args().Slice())
	if err != nil {
		return err
	}
	return writeTemplated(a.stdout, c.String("format"), entries)
}

func (a *app) networkRemove(c *cli.Context) error {
	m, err := a.managerFor(c)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range c.Args().Slice() {
		if err := m.RemoveNetwork(c.Context, name); err != nil {
			errs = append(errs, err)
			continue
		}
		a.stopDNS(name)
		fmt.Fprintln(a.stdout, name)
	}
	return errors.Join(errs...)
}

// networkPruneWarning is what network prune asks before it removes
// anything, in docker's words.
const networkPruneWarning = "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] "

// networkPruneCommand is `network prune [-f]`: without -f it asks, as
// docker does, and refuses when stdin is not a terminal to ask on.
func (a *app) networkPruneCommand(c *cli.Context) error {
	if !c.Bool("force") {
		ok, err := a.confirm(networkPruneWarning)
		if err != nil {
			return fmt.Errorf("network prune: %w", err)
		}
		if !ok {
			return errors.New("network prune: cancelled, nothing removed")
		}
	}
	return a.networkPrune(c)
}

// networkPrune removes the unused networks and says which.
func (a *app) networkPrune(c *cli.Context) error {
	removed, err := a.pruneNetworks(c)
	for _, n := range removed {
		fmt.Fprintf(a.stdout, "removed network %s\n", n)
	}
	return err
}

// pruneNetworks removes the networks no container holds an address on,
// except the default network; system prune uses it too.
func (a *app) pruneNetworks(c *cli.Context) ([]string, error) {
	m, err := a.managerFor(c)
	if err != nil {
		return nil, err
	}
	nets, err := m.Store.List(c.Context)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, n := range nets {
		if n.Default {
			continue
		}
		users, err := m.Store.Users(c.Context, n)
		if err != nil {
			return removed, err
		}
		if len(users) > 0 {
			continue
		}
		if err := m.RemoveNetwork(c.Context, n.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		a.stopDNS(n.Name)
		removed = append(removed, n.Name)
	}
	return removed, errors.Join(errs...)
}

// port prints a container's published ports as docker does:
// "80/tcp -> 127.0.0.1:8080", or the host addresses of one port.
func (a *app) port(c *cli.Context) error {
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	ctr, err := e.Get(c.Context, c.Args().First())
	if err != nil {
		return err
	}
	ports, err := containerPorts(ctr)
	if err != nil {
		return err
	}
	want := c.Args().Get(1)
	if want != "" && !strings.Contains(want, "/") {
		want += "/tcp"
	}
	found := false
	for _, p := range ports {
		cport := fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol)
		host := strings.SplitN(network.FormatPort(p), "->", 2)[0]
		if want == "" {
			fmt.Fprintf(a.stdout, "%s -> %s\n", cport, host)
		} else if cport == want {
			fmt.Fprintln(a.stdout, host)
			found = true
		}
	}
	if want != "" && !found {
		return fmt.Errorf("container %s: port %s is not published", ctr.Name, want)
	}
	return nil
}

// containerPorts are a container's published ports on all its networks.
func containerPorts(ctr *engine.Container) ([]network.PortMapping, error) {
	ext, err := network.ContainerExtension(ctr)
	if err != nil {
		return nil, err
	}
	var out []network.PortMapping
	for _, ep := range ext.Endpoints {
		out = append(out, ep.Ports...)
	}
	return out, nil
}
