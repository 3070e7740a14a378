package nri

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/engine"
)

// testPlugin is an external plugin on NRI's stub: it adds an env var and
// refuses containers named "refuse".
type testPlugin struct {
	synced chan int
	events chan string
}

func (p *testPlugin) Synchronize(_ context.Context, _ []*api.PodSandbox, ctrs []*api.Container) ([]*api.ContainerUpdate, error) {
	p.synced <- len(ctrs)
	return nil, nil
}

func (p *testPlugin) CreateContainer(_ context.Context, pod *api.PodSandbox, c *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	p.events <- "create " + pod.Name + "/" + c.Name
	if c.Name == "refuse" {
		return nil, nil, errors.New("not this one")
	}
	a := &api.ContainerAdjustment{}
	a.AddEnv("FROM_PLUGIN", "1")
	return a, nil, nil
}

func (p *testPlugin) StopContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) ([]*api.ContainerUpdate, error) {
	p.events <- "stop " + c.Name
	return nil, nil
}

func TestHostWithExternalPlugin(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "nri.sock")
	existing := &engine.Container{ID: "e1", Name: "existing", State: engine.State{Status: engine.StatusRunning, Pid: 5}}
	h, err := StartHost(HostConfig{
		PluginPath: filepath.Join(dir, "none"), PluginConfigPath: filepath.Join(dir, "none"), SocketPath: sock,
		RequestTimeout: 2 * time.Second, RegistrationTimeout: 2 * time.Second,
		Sync: SyncFunc("linux", func(context.Context) ([]*engine.Container, error) { return []*engine.Container{existing}, nil },
			func(string) (*specs.Spec, error) { return &specs.Spec{}, nil }),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	p := &testPlugin{synced: make(chan int, 1), events: make(chan string, 10)}
	s, err := stub.New(p, stub.WithPluginName("test"), stub.WithPluginIdx("50"), stub.WithSocketPath(sock))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	select {
	case n := <-p.synced:
		if n != 1 {
			t.Errorf("plugin synchronized with %d containers, want the 1 existing", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("plugin did not synchronize")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Equal(h.Plugins(), []string{"50-test"}) {
		if time.Now().After(deadline) {
			t.Fatalf("plugins %q, want 50-test", h.Plugins())
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The same requests straight to the host and through the service.
	ln, err := net.Listen("unix", filepath.Join(dir, "service.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go Serve(ln, h, nil)
	client, err := DialService(ctx, filepath.Join(dir, "service.sock"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []Runner{h, client} {
		ok := &engine.Container{ID: "c1", Name: "ok"}
		rpl, err := r.Handle(ctx, &Request{Event: EventCreateContainer, Pod: Pod(ok), Container: Container("linux", ok, &specs.Spec{}, api.ContainerState_CONTAINER_CREATED, 0)})
		if err != nil {
			t.Fatal(err)
		}
		if got := <-p.events; got != "create ok/ok" {
			t.Errorf("plugin saw %q", got)
		}
		if rpl.Adjust == nil || len(rpl.Adjust.Env) != 1 || rpl.Adjust.Env[0].Key != "FROM_PLUGIN" {
			t.Errorf("adjustment %v", rpl.Adjust)
		}
		bad := &engine.Container{ID: "c2", Name: "refuse"}
		_, err = r.Handle(ctx, &Request{Event: EventCreateContainer, Pod: Pod(bad), Container: Container("linux", bad, nil, api.ContainerState_CONTAINER_CREATED, 0)})
		<-p.events
		var pe *PluginError
		if !errors.As(err, &pe) || pe.Plugin != "50-test" || pe.Msg != "not this one" || err.Error() != "nri plugin 50-test: not this one" {
			t.Errorf("error %#v (%v), want nri plugin 50-test: not this one", err, err)
		}
		if _, err := r.Handle(ctx, &Request{Event: EventStopContainer, Pod: Pod(ok), Container: Container("linux", ok, nil, api.ContainerState_CONTAINER_STOPPED, 0)}); err != nil {
			t.Fatal(err)
		}
		if got := <-p.events; got != "stop ok" {
			t.Errorf("plugin saw %q", got)
		}
	}
	if got, err := client.Plugins(ctx); err != nil || !reflect.DeepEqual(got, []string{"50-test"}) {
		t.Errorf("service plugins %q, %v", got, err)
	}
	if _, err := client.Handle(ctx, &Request{Event: "Bogus"}); err == nil {
		t.Error("unknown event accepted")
	}

	s.Stop() // the plugin goes away
	deadline = time.Now().Add(5 * time.Second)
	for len(h.Plugins()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("plugins %q after the plugin left", h.Plugins())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestContainerMapping(t *testing.T) {
	c := &engine.Container{ID: "c1", Name: "web", Labels: map[string]string{"a": "b"},
		Created: time.Unix(100, 0), State: engine.State{Status: engine.StatusExited, ExitCode: 3, StartedAt: time.Unix(200, 0), FinishedAt: time.Unix(300, 0)}}
	spec := &specs.Spec{
		Process:     &specs.Process{Args: []string{"/app"}, Env: []string{"A=1"}, User: specs.User{UID: 5, GID: 6}},
		Annotations: map[string]string{annotationRctlMemoryUse: "deny=1024", annotationRctlPcpu: "deny=50", annotationRctlMaxProc: "deny=9"},
		Mounts:      []specs.Mount{{Destination: "/dev", Type: "devfs"}},
		Linux:       &specs.Linux{CgroupsPath: "/x", Resources: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](3)}}},
	}
	pod := Pod(c)
	if pod.Id != "c1" || pod.Name != "web" || pod.Namespace != Namespace || pod.Labels["a"] != "b" {
		t.Errorf("pod %v", pod)
	}
	for _, goos := range []string{"linux", "freebsd"} {
		ctr := Container(goos, c, spec, api.ContainerState_CONTAINER_STOPPED, 0)
		if ctr.Id != "c1" || ctr.PodSandboxId != "c1" || ctr.ExitCode != 3 || ctr.FinishedAt != time.Unix(300, 0).UnixNano() ||
			ctr.StartedAt != time.Unix(200, 0).UnixNano() || ctr.CreatedAt != time.Unix(100, 0).UnixNano() ||
			ctr.Args[0] != "/app" || ctr.Env[0] != "A=1" || ctr.User.Uid != 5 || len(ctr.Mounts) != 1 {
			t.Errorf("%s: %v", goos, ctr)
		}
		r := ctr.Linux.Resources
		switch goos {
		case "linux":
			if ctr.Linux.CgroupsPath != "/x" || r.Pids.Limit != 3 || r.Memory != nil && r.Memory.Limit != nil {
				t.Errorf("linux resources %v", ctr.Linux)
			}
		case "freebsd":
			if ctr.Linux.CgroupsPath != "" || r.Memory.Limit.GetValue() != 1024 || r.Cpu.Quota.GetValue() != 50000 || r.Cpu.Period.GetValue() != 100000 || r.Pids.Limit != 9 {
				t.Errorf("freebsd resources from rctl %v", r)
			}
		}
	}
	if got := Container("linux", c, nil, api.ContainerState_CONTAINER_RUNNING, 7); got.Pid != 7 || got.ExitCode != 0 {
		t.Errorf("running container %v", got)
	}
}

// BenchmarkHandle measures one CreateContainer through a host with one
// external plugin on NRI's stub: directly, and through the service's
// protocol (what a command pays per event when the service runs).
func BenchmarkHandle(b *testing.B) {
	dir := b.TempDir()
	sock := filepath.Join(dir, "nri.sock")
	h, err := StartHost(HostConfig{PluginPath: dir, PluginConfigPath: dir, SocketPath: sock, RequestTimeout: 5 * time.Second, RegistrationTimeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	p := &testPlugin{synced: make(chan int, 1), events: make(chan string, 1)}
	s, err := stub.New(p, stub.WithPluginName("bench"), stub.WithPluginIdx("50"), stub.WithSocketPath(sock))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	<-p.synced
	for len(h.Plugins()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	ln, err := net.Listen("unix", filepath.Join(dir, "service.sock"))
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go Serve(ln, h, nil)
	client, err := DialService(ctx, filepath.Join(dir, "service.sock"))
	if err != nil {
		b.Fatal(err)
	}
	c := &engine.Container{ID: "c1", Name: "ok"}
	req := &Request{Event: EventCreateContainer, Pod: Pod(c), Container: Container("linux", c, &specs.Spec{}, api.ContainerState_CONTAINER_CREATED, 0)}
	for _, r := range []struct {
		name string
		r    Runner
	}{{"host", h}, {"service", client}} {
		b.Run(r.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := r.r.Handle(ctx, req); err != nil {
					b.Fatal(err)
				}
				<-p.events
			}
		})
	}
}
