package nri

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/containerd/nri/pkg/adaptation"
	"github.com/containerd/nri/pkg/api"
	nrilog "github.com/containerd/nri/pkg/log"
	"google.golang.org/grpc/status"

	"github.com/stockade/stockade/version"
)

// Event names the lifecycle event of a Request.
type Event string

// The events a Host relays to plugins.
const (
	EventRunPodSandbox    Event = "RunPodSandbox"
	EventCreateContainer  Event = "CreateContainer"
	EventStartContainer   Event = "StartContainer"
	EventPostStart        Event = "PostStartContainer"
	EventStopContainer    Event = "StopContainer"
	EventRemoveContainer  Event = "RemoveContainer"
	EventStopPodSandbox   Event = "StopPodSandbox"
	EventRemovePodSandbox Event = "RemovePodSandbox"
)

// Request is one event for the plugins, about one container and its pod.
type Request struct {
	Event     Event
	Pod       *api.PodSandbox
	Container *api.Container
}

// Reply is what the plugins answered: for CreateContainer, their combined
// adjustment of the container.
type Reply struct {
	Adjust *api.ContainerAdjustment
}

// PluginError is a plugin's failure of a request.
type PluginError struct {
	// Plugin is the plugin's name (NN-NAME), or empty when the failure is
	// not one plugin's.
	Plugin string
	// Msg is the plugin's message.
	Msg string
}

func (e *PluginError) Error() string {
	if e.Plugin == "" {
		return "nri: " + e.Msg
	}
	return "nri plugin " + e.Plugin + ": " + e.Msg
}

// HostConfig configures a Host.
type HostConfig struct {
	// PluginPath holds pre-installed plugins (NN-NAME executables), started
	// with the host; PluginConfigPath their configurations.
	PluginPath, PluginConfigPath string
	// SocketPath, when set, is where external plugins connect.
	SocketPath string
	// RegistrationTimeout and RequestTimeout bound a plugin's registration
	// and each request to it.
	RegistrationTimeout, RequestTimeout time.Duration
	// Sync lists the existing pods and containers for a plugin that
	// registers.
	Sync func(ctx context.Context) ([]*api.PodSandbox, []*api.Container, error)
	// Update applies container updates the plugins ask for and returns
	// those that failed.
	Update func(ctx context.Context, updates []*api.ContainerUpdate) ([]*api.ContainerUpdate, error)
	// Log receives the NRI library's messages and the host's own.
	Log *slog.Logger
}

// Host runs NRI's adaptation: it starts the pre-installed plugins,
// accepts external ones when it has a socket, and relays requests to all
// of them.
type Host struct {
	cfg HostConfig
	a   *adaptation.Adaptation
	log *slog.Logger

	reqMu sync.Mutex // one request at a time, so a failure is the request's

	mu      sync.Mutex
	failed  string          // the plugin whose invocation failed last
	plugins map[string]bool // registered, synchronized, not closed
}

// HasPlugins reports whether dir holds an executable file, which the
// adaptation would start as a pre-installed plugin.
func HasPlugins(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("nri: %w", err)
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 {
			return true, nil
		}
	}
	return false, nil
}

// StartHost starts the adaptation: pre-installed plugins are started,
// registered and synchronized before it returns; with a SocketPath,
// external plugins may connect from then on.
func StartHost(cfg HostConfig) (*Host, error) {
	h := &Host{cfg: cfg, log: cfg.Log, plugins: map[string]bool{}}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	// These are the library's process-wide settings; every host of a
	// process has the same configuration.
	nrilog.Set(&logger{h: h})
	if cfg.RegistrationTimeout > 0 {
		adaptation.SetPluginRegistrationTimeout(cfg.RegistrationTimeout)
	}
	if cfg.RequestTimeout > 0 {
		adaptation.SetPluginRequestTimeout(cfg.RequestTimeout)
	}
	opts := []adaptation.Option{
		adaptation.WithPluginPath(cfg.PluginPath),
		adaptation.WithPluginConfigPath(cfg.PluginConfigPath),
		adaptation.WithMetrics(&metrics{h: h}),
	}
	if cfg.SocketPath == "" {
		opts = append(opts, adaptation.WithDisabledExternalConnections())
	} else {
		opts = append(opts, adaptation.WithSocketPath(cfg.SocketPath))
	}
	ver := version.Version
	if ver == "" {
		ver = "dev"
	}
	a, err := adaptation.New("stockade", ver, h.sync, h.update, opts...)
	if err != nil {
		return nil, fmt.Errorf("nri: %w", err)
	}
	if err := a.Start(); err != nil {
		return nil, fmt.Errorf("nri: %w", err)
	}
	h.a = a
	return h, nil
}

// Close stops the plugins the host started and closes its socket.
func (h *Host) Close() error {
	h.a.Stop()
	if h.cfg.SocketPath != "" {
		os.Remove(h.cfg.SocketPath)
	}
	return nil
}

// Plugins lists the plugins registered and synchronized, by name
// (NN-NAME), sorted.
func (h *Host) Plugins() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for p := range h.plugins {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

func (h *Host) sync(ctx context.Context, cb adaptation.SyncCB) error {
	var pods []*api.PodSandbox
	var ctrs []*api.Container
	if h.cfg.Sync != nil {
		var err error
		if pods, ctrs, err = h.cfg.Sync(ctx); err != nil {
			return err
		}
	}
	updates, err := cb(ctx, pods, ctrs)
	if err != nil {
		return err
	}
	h.applyUpdates(ctx, updates)
	return nil
}

func (h *Host) update(ctx context.Context, updates []*api.ContainerUpdate) ([]*api.ContainerUpdate, error) {
	if h.cfg.Update == nil {
		return updates, errors.New("container updates are not supported")
	}
	return h.cfg.Update(ctx, updates)
}

// applyUpdates applies the updates that came with a reply; failures are
// logged, as the request itself succeeded.
func (h *Host) applyUpdates(ctx context.Context, updates []*api.ContainerUpdate) {
	if len(updates) == 0 {
		return
	}
	failed, err := h.update(ctx, updates)
	for _, u := range failed {
		h.log.Warn("nri: container update refused", "container", u.GetContainerId(), "error", err)
	}
}

// Handle relays req to the plugins and returns their reply. A plugin's
// failure is a *PluginError.
func (h *Host) Handle(ctx context.Context, req *Request) (*Reply, error) {
	h.reqMu.Lock()
	defer h.reqMu.Unlock()
	h.mu.Lock()
	h.failed = ""
	h.mu.Unlock()
	reply := &Reply{}
	var err error
	switch req.Event {
	case EventRunPodSandbox:
		err = h.a.RunPodSandbox(ctx, &api.RunPodSandboxRequest{Pod: req.Pod})
	case EventCreateContainer:
		var rpl *api.CreateContainerResponse
		rpl, err = h.a.CreateContainer(ctx, &api.CreateContainerRequest{Pod: req.Pod, Container: req.Container})
		if err == nil && rpl != nil {
			reply.Adjust = rpl.Adjust
			h.applyUpdates(ctx, rpl.Update)
			if len(rpl.Evict) > 0 {
				h.log.Warn("nri: plugins asked to evict containers; stockade does not evict", "count", len(rpl.Evict))
			}
		}
	case EventStartContainer:
		err = h.a.StartContainer(ctx, &api.StartContainerRequest{Pod: req.Pod, Container: req.Container})
	case EventPostStart:
		err = h.a.PostStartContainer(ctx, &api.PostStartContainerRequest{Pod: req.Pod, Container: req.Container})
	case EventStopContainer:
		var rpl *api.StopContainerResponse
		rpl, err = h.a.StopContainer(ctx, &api.StopContainerRequest{Pod: req.Pod, Container: req.Container})
		if err == nil && rpl != nil {
			h.applyUpdates(ctx, rpl.Update)
		}
	case EventRemoveContainer:
		err = h.a.RemoveContainer(ctx, &api.RemoveContainerRequest{Pod: req.Pod, Container: req.Container})
	case EventStopPodSandbox:
		err = h.a.StopPodSandbox(ctx, &api.StopPodSandboxRequest{Pod: req.Pod})
	case EventRemovePodSandbox:
		err = h.a.RemovePodSandbox(ctx, &api.RemovePodSandboxRequest{Pod: req.Pod})
	default:
		return nil, fmt.Errorf("nri: unknown event %q", req.Event)
	}
	if err != nil {
		h.mu.Lock()
		plugin := h.failed
		h.mu.Unlock()
		return nil, &PluginError{Plugin: plugin, Msg: message(err)}
	}
	return reply, nil
}

// message is the plugin's own message when err carries one (a ttrpc
// status), else the error's text.
func message(err error) string {
	if s, ok := status.FromError(err); ok && s.Message() != "" {
		return s.Message()
	}
	return err.Error()
}

// metrics learns from the adaptation which plugin failed a request.
type metrics struct{ h *Host }

func (m *metrics) RecordPluginInvocation(plugin, _ string, err error) {
	if err != nil {
		m.h.mu.Lock()
		m.h.failed = plugin
		m.h.mu.Unlock()
	}
}
func (m *metrics) RecordPluginLatency(string, string, time.Duration) {}
func (m *metrics) RecordPluginAdjustments(string, string, *api.ContainerAdjustment, int, int) {
}
func (m *metrics) UpdatePluginCount(int) {}

// logger sends the NRI library's messages to the host's log: its
// informational chatter at debug level, warnings and errors as such. The
// adaptation has no API that lists its plugins, so the host follows
// their registrations and closings in these messages, matched on the
// library's format strings.
type logger struct{ h *Host }

func (l *logger) track(format string, args []any) {
	if len(args) == 0 {
		return
	}
	name, ok := args[0].(string)
	if !ok {
		return
	}
	l.h.mu.Lock()
	defer l.h.mu.Unlock()
	switch format {
	case "plugin %q connected and synchronized", "pre-installed NRI plugin %q synchronization success":
		l.h.plugins[name] = true
	case "connection to plugin %q closed", "ttrpc server for plugin %q closed (%v)", "closing plugin %s, failed to handle %s request: %v":
		delete(l.h.plugins, name)
	}
}

func (l *logger) Debugf(_ context.Context, format string, args ...any) {
	l.h.log.Debug("nri: " + fmt.Sprintf(format, args...))
}
func (l *logger) Infof(_ context.Context, format string, args ...any) {
	l.track(format, args)
	l.h.log.Debug("nri: " + fmt.Sprintf(format, args...))
}
func (l *logger) Warnf(_ context.Context, format string, args ...any) {
	l.track(format, args)
	l.h.log.Warn("nri: " + fmt.Sprintf(format, args...))
}
func (l *logger) Errorf(_ context.Context, format string, args ...any) {
	l.track(format, args)
	l.h.log.Error("nri: " + fmt.Sprintf(format, args...))
}
