// Package nri runs current NRI plugins (github.com/containerd/nri) at
// stockade's container lifecycle points, through NRI's own adaptation
// package: pre-installed plugins that stockade starts, and external
// plugins that connect to the socket `stockade system service` hosts.
//
// Stockade has no pods: each container is presented to plugins as its own
// pod sandbox (RunPodSandbox before its CreateContainer, StopPodSandbox and
// RemovePodSandbox after its RemoveContainer). The plugins' adjustments
// are applied to the container's spec before the runtime sees it (see
// ApplyAdjustment), for Linux and FreeBSD alike.
//
// The subpackage v010 runs NRI 0.1 binary plugins.
package nri

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/containerd/nri/pkg/api"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/engine"
)

// HookName is the hook's name in errors.
const HookName = "nri"

// Runner relays requests to plugins: a Host in this process, or the
// service's host through a ServiceClient.
type Runner interface {
	Handle(ctx context.Context, req *Request) (*Reply, error)
	Close() error
}

// Hook takes part in the lifecycle of every container (engine.Hook):
//
//	engine point   NRI requests
//	Create         RunPodSandbox, CreateContainer (the adjustment is applied to the spec)
//	Created        StartContainer (the process exists, waiting)
//	Started        PostStartContainer
//	Stopped        StopContainer (also after an exit on its own, and after a failed start)
//	Remove         RemoveContainer, StopPodSandbox, RemovePodSandbox
//
// An error at Create or Created fails the create or the start with the
// plugin's message. Errors at the other points are logged.
//
// Each point opens the plugins' runner with Open and closes it when no
// other point follows in this process: the runner stays open from Created
// to Started, from a failed Create to its Remove, and from Stopped to the
// Remove of a container removed on exit.
type Hook struct {
	engine.NopHook
	// GOOS is the OS containers run on.
	GOOS string
	// Open returns the runner to use now, or nil when there is no plugin.
	Open func(ctx context.Context) (Runner, error)
	// Spec reads a container's spec from its bundle.
	Spec func(id string) (*specs.Spec, error)
	// Record, when set, reads a container's record as stored now: the
	// engine passes a record as it was when the process started, and
	// StopContainer tells the exit code the monitor stored since.
	Record func(ctx context.Context, id string) (*engine.Container, error)
	// Log receives the errors of the points that cannot fail.
	Log *slog.Logger

	mu sync.Mutex
	r  Runner
}

// Name implements engine.Hook.
func (h *Hook) Name() string { return HookName }

// runner returns the open runner, opening one when none is.
func (h *Hook) runner(ctx context.Context) (Runner, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.r != nil {
		return h.r, nil
	}
	r, err := h.Open(ctx)
	if err != nil || r == nil {
		return nil, err
	}
	h.r = r
	return r, nil
}

// Close closes the runner if one is open.
func (h *Hook) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.r == nil {
		return nil
	}
	err := h.r.Close()
	h.r = nil
	return err
}

func (h *Hook) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Create relays RunPodSandbox and CreateContainer and applies the
// plugins' adjustment to spec.
func (h *Hook) Create(ctx context.Context, c *engine.Container, spec *specs.Spec) error {
	r, err := h.runner(ctx)
	if err != nil || r == nil {
		return err
	}
	pod := Pod(c)
	if _, err := r.Handle(ctx, &Request{Event: EventRunPodSandbox, Pod: pod}); err != nil {
		return err // Remove follows and closes the runner
	}
	rpl, err := r.Handle(ctx, &Request{Event: EventCreateContainer, Pod: pod, Container: Container(h.GOOS, c, spec, api.ContainerState_CONTAINER_CREATED, 0)})
	if err != nil {
		return err
	}
	if err := ApplyAdjustment(h.GOOS, spec, rpl.Adjust); err != nil {
		return fmt.Errorf("nri: %w", err)
	}
	return h.Close()
}

func (h *Hook) spec(c *engine.Container) *specs.Spec {
	if h.Spec == nil {
		return nil
	}
	s, err := h.Spec(c.ID)
	if err != nil {
		h.log().Debug("nri: container spec", "container", c.Name, "error", err)
		return nil
	}
	return s
}

// NeedsCreated reports true: StartContainer goes to the plugins between
// the runtime's create and start.
func (h *Hook) NeedsCreated(*engine.Container) bool { return true }

// Created relays StartContainer.
func (h *Hook) Created(ctx context.Context, c *engine.Container, pid int) error {
	r, err := h.runner(ctx)
	if err != nil || r == nil {
		return err
	}
	_, err = r.Handle(ctx, &Request{Event: EventStartContainer, Pod: Pod(c), Container: Container(h.GOOS, c, h.spec(c), api.ContainerState_CONTAINER_CREATED, pid)})
	return err
}

// Started relays PostStartContainer.
func (h *Hook) Started(ctx context.Context, c *engine.Container, pid int) {
	defer h.Close()
	r, err := h.runner(ctx)
	if err != nil || r == nil {
		h.warn(c, EventPostStart, err)
		return
	}
	_, err = r.Handle(ctx, &Request{Event: EventPostStart, Pod: Pod(c), Container: Container(h.GOOS, c, h.spec(c), api.ContainerState_CONTAINER_RUNNING, pid)})
	h.warn(c, EventPostStart, err)
}

// Stopped relays StopContainer.
func (h *Hook) Stopped(ctx context.Context, c *engine.Container) {
	r, err := h.runner(ctx)
	if err != nil || r == nil {
		h.warn(c, EventStopContainer, err)
		return
	}
	rec := c
	if h.Record != nil {
		if fresh, err := h.Record(ctx, c.ID); err == nil {
			rec = fresh
		}
	}
	_, err = r.Handle(ctx, &Request{Event: EventStopContainer, Pod: Pod(c), Container: Container(h.GOOS, rec, h.spec(c), api.ContainerState_CONTAINER_STOPPED, 0)})
	h.warn(c, EventStopContainer, err)
	if !c.AutoRemove {
		h.Close()
	}
}

// Remove relays RemoveContainer, StopPodSandbox and RemovePodSandbox.
// Plugin errors do not keep the container: they are logged.
func (h *Hook) Remove(ctx context.Context, c *engine.Container) error {
	defer h.Close()
	r, err := h.runner(ctx)
	if err != nil || r == nil {
		h.warn(c, EventRemoveContainer, err)
		return nil
	}
	pod := Pod(c)
	ctr := Container(h.GOOS, c, h.spec(c), api.ContainerState_CONTAINER_STOPPED, 0)
	for _, ev := range []Event{EventRemoveContainer, EventStopPodSandbox, EventRemovePodSandbox} {
		_, err := r.Handle(ctx, &Request{Event: ev, Pod: pod, Container: ctr})
		h.warn(c, ev, err)
	}
	return nil
}

func (h *Hook) warn(c *engine.Container, ev Event, err error) {
	if err != nil {
		h.log().Warn("nri: "+string(ev), "container", c.Name, "error", err)
	}
}
