package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/network"
)

// networkFlags are the network flags of run and create.
func networkFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "network", Aliases: []string{"net"}, Usage: "NAME, host, none, bridge (the default network stockade) or alias:IFACE (FreeBSD, with --ip)"},
		&cli.StringFlag{Name: "ip", Usage: "IPv4 address on the network"},
		&cli.StringFlag{Name: "ip6", Usage: "IPv6 address on the network"},
		&cli.StringSliceFlag{Name: "network-alias", Usage: "another name on the network (repeatable)"},
		&cli.StringSliceFlag{Name: "publish", Aliases: []string{"p"}, Usage: "publish a port [IP:][HOSTPORT:]PORT[/tcp|udp] (repeatable)"},
		&cli.BoolFlag{Name: "publish-all", Aliases: []string{"P"}, Usage: "publish every exposed port on a free host port"},
		&cli.StringSliceFlag{Name: "dns", Usage: "a name server for the container (repeatable)"},
		&cli.StringSliceFlag{Name: "dns-search", Usage: "a search domain (repeatable)"},
		&cli.StringSliceFlag{Name: "dns-option", Usage: "a resolver option (repeatable)"},
		&cli.StringSliceFlag{Name: "add-host", Usage: "an /etc/hosts line NAME:IP (repeatable)"},
		&cli.StringFlag{Name: "mac-address", Usage: "the interface's MAC address"},
	}
}

// networkOptions reads and checks the network flags (before anything is
// pulled or made).
func networkOptions(c *cli.Context) (network.Options, error) {
	o := network.Options{
		Network: c.String("network"), Aliases: c.StringSlice("network-alias"),
		Publish: c.StringSlice("publish"), PublishAll: c.Bool("publish-all"),
		DNS: c.StringSlice("dns"), DNSSearch: c.StringSlice("dns-search"), DNSOptions: c.StringSlice("dns-option"),
		AddHosts: c.StringSlice("add-host"), MAC: c.String("mac-address"),
	}
	for _, f := range []struct {
		flag string
		dst  *netip.Addr
	}{{"ip", &o.IP}, {"ip6", &o.IP6}} {
		if s := c.String(f.flag); s != "" {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return o, fmt.Errorf("--%s %q: not an IP address", f.flag, s)
			}
			*f.dst = a
		}
	}
	return o, o.Validate()
}

// networkRequest makes the network hook's request, to go in the
// container's extensions, and the bundle's network mode. -P reads the
// image's exposed ports.
func networkRequest(ctx context.Context, o network.Options, svc *image.Service, img *image.Record) (map[string]json.RawMessage, string, error) {
	if o.PublishAll && o.Managed() {
		ports, err := exposedPorts(ctx, svc, img)
		if err != nil {
			return nil, "", err
		}
		o.Exposed = ports
	}
	raw, err := json.Marshal(o)
	if err != nil {
		return nil, "", err
	}
	return map[string]json.RawMessage{network.HookName: raw}, o.BundleMode(), nil
}

// exposedPorts are the image config's ExposedPorts keys ("80/tcp").
func exposedPorts(ctx context.Context, svc *image.Service, img *image.Record) ([]string, error) {
	cfg, err := svc.Config(ctx, img)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(cfg.Config.ExposedPorts)), nil
}
