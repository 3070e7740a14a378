//go:build !lean

package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"

	"github.com/urfave/cli/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/metadata"
	"github.com/stockade/stockade/network"
	"github.com/stockade/stockade/network/dns"
	"github.com/stockade/stockade/network/nameserver"
)

// networkDNS is `stockade network dns NAME`: the network's name server,
// started on demand by the network hook when a container of the network
// starts. One runs per network (a locked pid file); it answers the names
// of the network's running containers from the metadata store, forwards
// other names to the host's resolvers and exits once no container of the
// network has run for --idle.
func (a *app) networkDNS(c *cli.Context) error {
	name := c.Args().First()
	pidFile := network.DNSPidFile(a.parts.NetworkStateDir(), name)
	lock, err := network.LockDNSPidFile(pidFile)
	if errors.Is(err, network.ErrDNSRunning) {
		return nil
	}
	if err != nil {
		return err
	}
	defer lock.Close()
	db, err := metadata.Open(c.Context, filepath.Join(a.cfg.Root, metadata.FileName))
	if err != nil {
		return err
	}
	svc := &network.DNSService{
		Store: &network.Store{DB: db}, Network: name, HostResolvConf: "/etc/resolv.conf",
		Idle: c.Duration("idle"), Log: a.log,
		Containers: func(ctx context.Context) ([]*engine.Container, error) {
			var out []*engine.Container
			err := db.View(ctx, func(tx *bolt.Tx) error {
				return metadata.ForEachJSON(tx, metadata.BucketContainers, func(_ string, c *engine.Container) error {
					out = append(out, c)
					return nil
				})
			})
			return out, err
		},
		Ready: func([]netip.AddrPort) {
			if err := network.MarkDNSReady(lock); err != nil {
				a.log.Warn("network name server: pid file", "error", err)
			}
		},
		Start: startNameServer,
	}
	if err := svc.Run(c.Context); err != nil {
		return fmt.Errorf("network %s: name server: %w", name, err)
	}
	return nil
}

// startNameServer is network.DNSService's Start.
func startNameServer(ctx context.Context, cfg dns.Config) (network.NameServer, error) {
	return nameserver.Listen(ctx, cfg)
}
