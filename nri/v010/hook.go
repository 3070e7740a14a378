package v010

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	types "github.com/containerd/nri/types/v1" //nolint:staticcheck // NRI 0.1 is what this package speaks
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/engine"
)

// HookName is the hook's name, and its key in Container.Extensions.
const HookName = "nri-v010"

// StateFunc returns a container's state as its runtime reports it; the
// FreeBSD jail runtime puts the jail id in its annotations.
type StateFunc func(ctx context.Context, id string) (specs.State, error)

// Hook sends NRI 0.1 requests at a container's lifecycle points:
//
//   - Create (engine.Hook.Create) keeps the request's spec part in the
//     container record: its resources, namespaces, cgroups path and
//     annotations, as they are once every hook before this one changed the
//     spec;
//   - create is sent at Created, after the runtime created the container
//     and before its process starts, with that process's host pid; a
//     failure fails the start;
//   - delete is sent at Stopped, once the process exited and the runtime
//     deleted it, for every create sent (also a failed one, as containerd
//     1.5 deleted the task of a failed start); its errors are logged.
//
// Created and Stopped run in the container's monitor process; the pid of
// the create is kept there until its delete.
type Hook struct {
	engine.NopHook
	// Client runs the plugins.
	Client *Client
	// GOOS is the OS containers run on.
	GOOS string
	// State, when set and GOOS is freebsd, finds the jail id.
	State StateFunc
	// Log receives delete failures.
	Log *slog.Logger

	mu      sync.Mutex
	created map[string]sent
}

// sent is what delete repeats of a create.
type sent struct {
	pid int
	jid string
}

// extension is the hook's part of the container record.
type extension struct {
	Spec *types.Spec `json:"spec"`
}

// Name implements engine.Hook.
func (h *Hook) Name() string { return HookName }

// Create keeps the container's 0.1 spec in its record.
func (h *Hook) Create(_ context.Context, c *engine.Container, spec *specs.Spec) error {
	if len(h.Client.plugins) == 0 {
		return nil
	}
	s, err := Spec(h.GOOS, spec)
	if err != nil {
		return fmt.Errorf("nri 0.1: %w", err)
	}
	return c.SetExtension(HookName, extension{Spec: s})
}

// NeedsCreated reports whether plugins are configured: they get create
// between the runtime's create and start.
func (h *Hook) NeedsCreated(*engine.Container) bool { return len(h.Client.plugins) > 0 }

// Created sends create.
func (h *Hook) Created(ctx context.Context, c *engine.Container, pid int) error {
	if len(h.Client.plugins) == 0 {
		return nil
	}
	var ext extension
	if _, err := c.Extension(HookName, &ext); err != nil {
		return err
	}
	s := sent{pid: pid}
	if h.GOOS == "freebsd" && h.State != nil {
		if st, err := h.State(ctx, c.ID); err == nil {
			s.jid = st.Annotations[AnnotationJID]
		}
	}
	h.mu.Lock()
	if h.created == nil {
		h.created = map[string]sent{}
	}
	h.created[c.ID] = s
	h.mu.Unlock()
	_, err := h.Client.Invoke(ctx, NewRequest(types.Create, Target{ID: c.ID, Pid: pid, Spec: ext.Spec, Labels: c.Labels, JID: s.jid}))
	return err
}

// Stopped sends delete for the create of this run.
func (h *Hook) Stopped(ctx context.Context, c *engine.Container) {
	h.mu.Lock()
	s, ok := h.created[c.ID]
	delete(h.created, c.ID)
	h.mu.Unlock()
	if !ok {
		return
	}
	var ext extension
	if _, err := c.Extension(HookName, &ext); err != nil {
		h.log().Warn("nri 0.1 delete", "container", c.Name, "error", err)
	}
	if _, err := h.Client.Invoke(ctx, NewRequest(types.Delete, Target{ID: c.ID, Pid: s.pid, Spec: ext.Spec, Labels: c.Labels, JID: s.jid})); err != nil {
		h.log().Warn("nri 0.1 delete", "container", c.Name, "error", err)
	}
}

func (h *Hook) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.New(slog.DiscardHandler)
}
