package nri

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/containerd/nri/pkg/api"
	"google.golang.org/protobuf/encoding/protojson"
)

// ServiceSocket is where `stockade system service` listens for the
// lifecycle events of container commands, under the state directory.
func ServiceSocket(stateDir string) string { return filepath.Join(stateDir, "nri-service.sock") }

// The service's protocol: one JSON request per connection, one JSON reply.
// Protobuf messages travel in protojson.
type wireRequest struct {
	// Op is an Event, or "plugins".
	Op        string          `json:"op"`
	Pod       json.RawMessage `json:"pod,omitempty"`
	Container json.RawMessage `json:"container,omitempty"`
}

type wireReply struct {
	Adjust  json.RawMessage `json:"adjust,omitempty"`
	Plugins []string        `json:"plugins,omitempty"`
	// Error is a failure; Plugin the plugin that failed, if one did.
	Error  string `json:"error,omitempty"`
	Plugin string `json:"plugin,omitempty"`
}

const opPlugins = "plugins"

// ServiceClient reaches the plugins of a running service. It implements
// Runner.
type ServiceClient struct {
	path string
}

// DialService returns a client of the service listening at path, or an
// error when none does.
func DialService(ctx context.Context, path string) (*ServiceClient, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	conn.Close()
	return &ServiceClient{path: path}, nil
}

func (c *ServiceClient) call(ctx context.Context, req *wireRequest) (*wireReply, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.path)
	if err != nil {
		return nil, fmt.Errorf("nri service: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return nil, fmt.Errorf("nri service: %w", err)
	}
	var rpl wireReply
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&rpl); err != nil {
		return nil, fmt.Errorf("nri service: no reply: %w", err)
	}
	return &rpl, nil
}

// Handle implements Runner.
func (c *ServiceClient) Handle(ctx context.Context, req *Request) (*Reply, error) {
	w := &wireRequest{Op: string(req.Event)}
	var err error
	if req.Pod != nil {
		if w.Pod, err = protojson.Marshal(req.Pod); err != nil {
			return nil, fmt.Errorf("nri service: %w", err)
		}
	}
	if req.Container != nil {
		if w.Container, err = protojson.Marshal(req.Container); err != nil {
			return nil, fmt.Errorf("nri service: %w", err)
		}
	}
	rpl, err := c.call(ctx, w)
	if err != nil {
		return nil, err
	}
	if rpl.Error != "" {
		return nil, &PluginError{Plugin: rpl.Plugin, Msg: rpl.Error}
	}
	out := &Reply{}
	if len(rpl.Adjust) > 0 {
		out.Adjust = &api.ContainerAdjustment{}
		if err := protojson.Unmarshal(rpl.Adjust, out.Adjust); err != nil {
			return nil, fmt.Errorf("nri service: adjustment: %w", err)
		}
	}
	return out, nil
}

// Plugins lists the plugins registered with the service.
func (c *ServiceClient) Plugins(ctx context.Context) ([]string, error) {
	rpl, err := c.call(ctx, &wireRequest{Op: opPlugins})
	if err != nil {
		return nil, err
	}
	if rpl.Error != "" {
		return nil, errors.New(rpl.Error)
	}
	return rpl.Plugins, nil
}

// Close implements Runner; a client holds no connection between calls.
func (c *ServiceClient) Close() error { return nil }

// Handler is what Serve answers with: a Host.
type Handler interface {
	Handle(ctx context.Context, req *Request) (*Reply, error)
	Plugins() []string
}

// Serve answers the requests of container commands on ln with h until ln
// is closed.
func Serve(ln net.Listener, h Handler, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go serveConn(conn, h, log)
	}
}

// serveTimeout bounds one request: every plugin's request timeout applies
// inside it.
const serveTimeout = 2 * time.Minute

func serveConn(conn net.Conn, h Handler, log *slog.Logger) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(serveTimeout))
	var req wireRequest
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&req); err != nil {
		if !errors.Is(err, io.EOF) { // DialService's probe says nothing
			log.Warn("nri service: bad request", "error", err)
		}
		return
	}
	rpl := handleWire(h, &req)
	json.NewEncoder(conn).Encode(rpl)
}

func handleWire(h Handler, w *wireRequest) *wireReply {
	if w.Op == opPlugins {
		return &wireReply{Plugins: h.Plugins()}
	}
	req := &Request{Event: Event(w.Op)}
	if len(w.Pod) > 0 {
		req.Pod = &api.PodSandbox{}
		if err := protojson.Unmarshal(w.Pod, req.Pod); err != nil {
			return &wireReply{Error: "bad pod: " + err.Error()}
		}
	}
	if len(w.Container) > 0 {
		req.Container = &api.Container{}
		if err := protojson.Unmarshal(w.Container, req.Container); err != nil {
			return &wireReply{Error: "bad container: " + err.Error()}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), serveTimeout)
	defer cancel()
	rpl, err := h.Handle(ctx, req)
	if err != nil {
		var pe *PluginError
		if errors.As(err, &pe) {
			return &wireReply{Error: pe.Msg, Plugin: pe.Plugin}
		}
		return &wireReply{Error: err.Error()}
	}
	out := &wireReply{}
	if rpl.Adjust != nil {
		data, err := protojson.Marshal(rpl.Adjust)
		if err != nil {
			return &wireReply{Error: err.Error()}
		}
		out.Adjust = data
	}
	return out
}
