//go:build !lean

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/nri"
	v010 "github.com/stockade/stockade/nri/v010"
)

// nriHooks returns the NRI hooks the configuration enables: current NRI,
// then NRI 0.1 (so 0.1 plugins see the spec current plugins adjusted).
func (a *app) nriHooks(e *engine.Engine) ([]engine.Hook, error) {
	var hs []engine.Hook
	if a.cfg.NRI.Enable {
		h := &nri.Hook{GOOS: e.GOOS, Spec: a.bundleSpec, Record: e.Get, Log: a.log}
		h.Open = func(ctx context.Context) (nri.Runner, error) { return a.nriRunner(ctx, e) }
		a.closers = append(a.closers, func() { h.Close() })
		hs = append(hs, h)
	}
	if v := a.cfg.NRI.V010; v.Enable {
		client, err := v010.Load(v010.Config{
			PluginPath: v.PluginPath, ConfigFile: v.ConfigFile, ConfigDir: v.ConfigDir,
			Timeout: time.Duration(a.cfg.NRI.PluginRequestTimeout),
		})
		if err != nil {
			return nil, err
		}
		hs = append(hs, &v010.Hook{Client: client, GOOS: e.GOOS, State: e.Runtime.State, Log: a.log})
	}
	return hs, nil
}

// nriRunner is where this process's NRI requests go: to `stockade system
// service` when it runs (its host has the pre-installed plugins and the
// external ones), else to a host of this process with the pre-installed
// plugins, or nowhere when there are none.
func (a *app) nriRunner(ctx context.Context, e *engine.Engine) (nri.Runner, error) {
	if c, err := nri.DialService(ctx, nri.ServiceSocket(a.cfg.State)); err == nil {
		return c, nil
	}
	has, err := nri.HasPlugins(a.cfg.NRI.PluginPath)
	if err != nil || !has {
		return nil, err
	}
	return a.nriHost(e, "")
}

// nriHost starts an NRI host over the engine's containers: external
// plugins connect to socketPath when it is set.
func (a *app) nriHost(e *engine.Engine, socketPath string) (*nri.Host, error) {
	n := a.cfg.NRI
	update := nri.Refuse(fmt.Sprintf("the %s runtime cannot change a running container's resources", a.cfg.Runtime))
	if rt, ok := e.Runtime.(interface {
		Binary() string
		Root() string
	}); ok {
		update = nri.RuncUpdater(rt.Binary(), rt.Root())
	}
	return nri.StartHost(nri.HostConfig{
		PluginPath: n.PluginPath, PluginConfigPath: n.PluginConfigPath, SocketPath: socketPath,
		RegistrationTimeout: time.Duration(n.PluginRegistrationTimeout),
		RequestTimeout:      time.Duration(n.PluginRequestTimeout),
		Sync:                nri.SyncFunc(e.GOOS, e.List, a.bundleSpec),
		Update:              nri.UpdateFunc(update),
		Log:                 a.log,
	})
}

// service runs NRI's adaptation with the pre-installed plugins and the
// external ones that connect to [nri] socket_path, and serves container
// commands their lifecycle events on the state directory's service
// socket, until SIGTERM or SIGINT.
func (a *app) service(c *cli.Context) error {
	if !a.cfg.NRI.Enable {
		return errors.New("system service: NRI is off ([nri] enable = false in the configuration): nothing to serve")
	}
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	sock := nri.ServiceSocket(a.cfg.State)
	if _, err := nri.DialService(ctx, sock); err == nil {
		return fmt.Errorf("system service: another service already listens on %s", sock)
	}
	if err := os.MkdirAll(filepath.Dir(sock), 0o700); err != nil {
		return fmt.Errorf("system service: %w", err)
	}
	os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("system service: %w", err)
	}
	defer os.Remove(sock)
	defer ln.Close()
	if err := os.Chmod(sock, 0o600); err != nil {
		return fmt.Errorf("system service: %w", err)
	}
	host, err := a.nriHost(e, a.cfg.NRI.SocketPath)
	if err != nil {
		return fmt.Errorf("system service: %w", err)
	}
	defer host.Close()
	a.log.Info("NRI service started", "nri_socket", a.cfg.NRI.SocketPath, "service_socket", sock, "plugins", host.Plugins())
	done := make(chan error, 1)
	go func() { done <- nri.Serve(ln, host, a.log) }()
	select {
	case <-ctx.Done():
		a.log.Info("NRI service stopping")
		ln.Close()
		<-done
		return nil
	case err := <-done:
		return fmt.Errorf("system service: %w", err)
	}
}

func (a *app) nriInfo(ctx context.Context) nriInfo {
	n := a.cfg.NRI
	info := nriInfo{Enable: n.Enable, V010Enable: n.V010.Enable, Plugins: []string{}, V010Plugins: []string{}}
	var errs []error
	if n.Enable {
		if c, err := nri.DialService(ctx, nri.ServiceSocket(a.cfg.State)); err == nil {
			info.Service = true
			ps, err := c.Plugins(ctx)
			errs = append(errs, err)
			info.Plugins = append(info.Plugins, ps...)
		} else if entries, err := os.ReadDir(n.PluginPath); err == nil {
			for _, e := range entries {
				if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
					info.Plugins = append(info.Plugins, e.Name())
				}
			}
		}
	}
	if n.V010.Enable {
		client, err := v010.Load(v010.Config{PluginPath: n.V010.PluginPath, ConfigFile: n.V010.ConfigFile, ConfigDir: n.V010.ConfigDir})
		errs = append(errs, err)
		if err == nil {
			info.V010Plugins = append(info.V010Plugins, client.Plugins()...)
		}
	}
	if err := errors.Join(errs...); err != nil {
		info.Error = err.Error()
	}
	return info
}

// bundleSpec reads a container's config.json from its bundle, which the
// engine keeps in ROOT/containers/ID.
func (a *app) bundleSpec(id string) (*specs.Spec, error) {
	data, err := os.ReadFile(filepath.Join(a.cfg.Root, "containers", id, "config.json"))
	if err != nil {
		return nil, err
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("container %s: config.json: %w", id, err)
	}
	return &s, nil
}
