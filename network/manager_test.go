package network

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/engine"
)

// recordingDriver records the calls the manager makes; the real drivers
// are tested by networktest on their OS.
type recordingDriver struct {
	phase    Phase
	calls    []string
	failOn   string
	attached []*Endpoint
}

func (d *recordingDriver) rec(call string) error {
	d.calls = append(d.calls, call)
	if call == d.failOn || strings.HasPrefix(call, d.failOn+" ") && d.failOn != "" {
		return fmt.Errorf("%s failed", call)
	}
	return nil
}
func (d *recordingDriver) Name() string { return "recording" }
func (d *recordingDriver) Preflight(_ context.Context, n *Network) error {
	return d.rec("Preflight " + n.Name)
}
func (d *recordingDriver) AttachPhase() Phase { return d.phase }
func (d *recordingDriver) Spec(ep *Endpoint, sb Sandbox, spec *specs.Spec) error {
	spec.Annotations = map[string]string{"netns": sb.NetNS}
	return d.rec("Spec " + ep.Addr.String())
}
func (d *recordingDriver) EnsureNetwork(_ context.Context, n *Network) error {
	return d.rec("EnsureNetwork " + n.Name + " " + n.Interface)
}
func (d *recordingDriver) RemoveNetwork(_ context.Context, n *Network) error {
	return d.rec("RemoveNetwork " + n.Name)
}
func (d *recordingDriver) Attach(_ context.Context, n *Network, ep *Endpoint, sb Sandbox) error {
	return d.rec(fmt.Sprintf("Attach %s %s %s pid=%d", n.Name, ep.Addr, ep.HostIf, sb.Pid))
}
func (d *recordingDriver) Detach(_ context.Context, n *Network, ep *Endpoint, _ Sandbox) error {
	return d.rec(fmt.Sprintf("Detach %s %s", n.Name, ep.Addr))
}
func (d *recordingDriver) Check(_ context.Context, nets []*Network, attached []*Endpoint, repair bool) ([]Problem, error) {
	d.attached = attached
	d.rec(fmt.Sprintf("Check nets=%d attached=%d repair=%v", len(nets), len(attached), repair))
	return []Problem{{What: "interface stvdeadbeef", Issue: "left over", Repaired: repair}}, nil
}

func newManager(t *testing.T, phase Phase) (*Manager, *recordingDriver, *[]string) {
	t.Helper()
	dir := t.TempDir()
	resolv := filepath.Join(dir, "resolv.conf")
	os.WriteFile(resolv, []byte("# host\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch example.org\noptions edns0\n"), 0o644)
	d := &recordingDriver{phase: phase}
	var dns []string
	m := &Manager{
		Store: newStore(t), Driver: d, Routes: RouteList(prefixes("0.0.0.0/0", "192.168.0.0/24")),
		Ports: &fakeProbe{busy: map[uint16]bool{9999: true}, next: 40000}, DataDir: filepath.Join(dir, "files"),
		StateDir: filepath.Join(dir, "state"), HostResolvConf: resolv, GOOS: "linux",
		StartDNS: func(_ context.Context, n *Network) error { dns = append(dns, n.Name); return nil },
	}
	return m, d, &dns
}

func newContainer(t *testing.T, name string, o Options) *engine.Container {
	t.Helper()
	id, err := newID()
	if err != nil {
		t.Fatal(err)
	}
	c := &engine.Container{ID: id, Name: name}
	if err := c.SetExtension(HookName, o); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestManagerLifecycle(t *testing.T) {
	m, d, dns := newManager(t, BeforeCreate)
	ctx := t.Context()
	c := newContainer(t, "web", Options{Publish: []string{"127.0.0.1:8080:80"}, Aliases: []string{"www"}, AddHosts: []string{"db:10.1.2.3"}})
	spec := &specs.Spec{Hostname: "web1", Mounts: []specs.Mount{{Destination: "/etc/hosts", Source: "/old"}}}
	if err := m.Create(ctx, c, spec); err != nil {
		t.Fatal(err)
	}
	ext, err := ContainerExtension(c)
	if err != nil || len(ext.Endpoints) != 1 {
		t.Fatalf("extension = %+v, %v", ext, err)
	}
	ep := ext.Endpoints[0]
	if ep.Network != "stockade" || ep.Addr.String() != "10.88.0.2/16" || ep.HostIf != "stv"+c.ID[:12] || ep.IfName != "eth0" ||
		len(ep.Ports) != 1 || FormatPort(ep.Ports[0]) != "127.0.0.1:8080->80/tcp" || ep.Aliases[0] != "www" {
		t.Fatalf("endpoint = %+v", ep)
	}
	if _, err := ParseMAC(ep.MAC); err != nil {
		t.Fatal(err)
	}
	dir := m.FilesDir(c.ID)
	var binds []string
	for _, mnt := range spec.Mounts {
		binds = append(binds, mnt.Source+">"+mnt.Destination)
	}
	if strings.Join(binds, " ") != fmt.Sprintf("%[1]s/resolv.conf>/etc/resolv.conf %[1]s/hosts>/etc/hosts %[1]s/hostname>/etc/hostname", dir) {
		t.Fatalf("mounts = %v", binds)
	}
	for file, want := range map[string]string{
		"resolv.conf": "nameserver 10.88.0.1\nsearch example.org\noptions edns0\n",
		"hosts":       "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.88.0.2\tweb1 www\n10.1.2.3\tdb\n",
		"hostname":    "web1\n",
	} {
		got, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", file, got, err, want)
		}
	}
	if spec.Annotations["netns"] != m.NetNSPath(c.ID) {
		t.Errorf("sandbox netns = %q", spec.Annotations["netns"])
	}
	if err := m.Created(ctx, c, 42); err != nil {
		t.Fatal(err)
	}
	if err := m.Prestart(ctx, c); err != nil {
		t.Fatal(err)
	}
	m.Stopped(ctx, c)
	if ls, _ := m.Store.Leases(ctx); len(ls) != 1 {
		t.Fatalf("after stop: %d leases, want 1 (stop keeps the address)", len(ls))
	}
	if err := m.Prestart(ctx, c); err != nil {
		t.Fatal(err)
	}
	m.Stopped(ctx, c)
	if err := m.Remove(ctx, c); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Spec 10.88.0.2/16",
		"Preflight stockade", "EnsureNetwork stockade stk0", "Attach stockade 10.88.0.2/16 stv" + c.ID[:12] + " pid=0",
		"Detach stockade 10.88.0.2/16",
		"Preflight stockade", "EnsureNetwork stockade stk0", "Attach stockade 10.88.0.2/16 stv" + c.ID[:12] + " pid=0",
		"Detach stockade 10.88.0.2/16",
		"Detach stockade 10.88.0.2/16",
	}
	if strings.Join(d.calls, "\n") != strings.Join(want, "\n") {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(d.calls, "\n"), strings.Join(want, "\n"))
	}
	if strings.Join(*dns, " ") != "stockade stockade" {
		t.Fatalf("name servers started for %v", *dns)
	}
	if ls, _ := m.Store.Leases(ctx); len(ls) != 0 {
		t.Fatalf("after rm: %d leases", len(ls))
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("files left after rm: %v", err)
	}
	// A second container gets the freed address back.
	c2 := newContainer(t, "web2", Options{Network: "bridge"})
	if err := m.Create(ctx, c2, &specs.Spec{}); err != nil {
		t.Fatal(err)
	}
	ext, _ = ContainerExtension(c2)
	if ext.Endpoints[0].Addr.String() != "10.88.0.2/16" {
		t.Fatalf("reuse after rm: %v", ext.Endpoints[0].Addr)
	}
}

func TestManagerAfterCreate(t *testing.T) {
	m, d, _ := newManager(t, AfterCreate)
	ctx := t.Context()
	if _, err := m.Store.Create(ctx, CreateOptions{Name: "lan", Subnet: netip.MustParsePrefix("10.99.0.0/24")}, nil); err != nil {
		t.Fatal(err)
	}
	c := newContainer(t, "a", Options{Network: "lan", IP: netip.MustParseAddr("10.99.0.50"), DNS: []string{"192.0.2.1"}, DNSSearch: []string{"corp"}})
	if err := m.Create(ctx, c, &specs.Spec{}); err != nil {
		t.Fatal(err)
	}
	if err := m.Prestart(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := m.Created(ctx, c, 4242); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(d.calls, "|"); got != "Spec 10.99.0.50/24|Preflight lan|EnsureNetwork lan stk-"+mustGet(t, m, "lan").ID[:8]+"|Attach lan 10.99.0.50/24 stv"+c.ID[:12]+" pid=4242" {
		t.Fatalf("calls = %s", got)
	}
	got, _ := os.ReadFile(filepath.Join(m.FilesDir(c.ID), "resolv.conf"))
	if string(got) != "nameserver 192.0.2.1\nsearch corp\noptions edns0\n" {
		t.Fatalf("resolv.conf with --dns = %q", got)
	}
	// In use: rm refused, naming the user.
	if err := m.RemoveNetwork(ctx, "lan"); err == nil || err.Error() != "network lan: in use by a" {
		t.Fatalf("rm in use: %v", err)
	}
	if err := m.Remove(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveNetwork(ctx, "lan"); err != nil {
		t.Fatal(err)
	}
	if d.calls[len(d.calls)-1] != "RemoveNetwork lan" {
		t.Fatalf("calls = %v", d.calls)
	}
}

func mustGet(t *testing.T, m *Manager, name string) *Network {
	n, err := m.Store.Get(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestManagerBadInputLeavesNothing(t *testing.T) {
	m, d, _ := newManager(t, BeforeCreate)
	ctx := t.Context()
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Publish: []string{"80:abc"}}, `-p "80:abc": container port "abc": not a port number`},
		{Options{Publish: []string{"9999:80"}}, "9999"},
		{Options{Network: "nope"}, "--network nope: network nope: no such network"},
		{Options{IP: netip.MustParseAddr("192.0.2.7")}, "--ip 192.0.2.7: not a free host address of network stockade's subnet 10.88.0.0/16"},
		{Options{MAC: "nope"}, `--mac-address "nope"`},
		{Options{Aliases: []string{"bad alias"}}, `--network-alias "bad alias"`},
		{Options{AddHosts: []string{"db"}}, `--add-host "db": want NAME:IP`},
		{Options{Network: "host", Publish: []string{"80"}}, "-p: not with --network host"},
		{Options{DNS: []string{"x"}}, `--dns "x"`},
	} {
		c := newContainer(t, "bad", tc.o)
		err := m.Create(ctx, c, &specs.Spec{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: %v; want %q", tc.o, err, tc.want)
		}
		// The engine runs Remove after a failed create.
		if err := m.Remove(ctx, c); err != nil {
			t.Fatal(err)
		}
		if ls, _ := m.Store.Leases(ctx); len(ls) != 0 {
			t.Fatalf("%+v left %d leases", tc.o, len(ls))
		}
		if _, err := os.Stat(m.FilesDir(c.ID)); !os.IsNotExist(err) {
			t.Fatalf("%+v left files", tc.o)
		}
	}
	for _, call := range d.calls {
		if strings.HasPrefix(call, "Attach") || strings.HasPrefix(call, "Spec") {
			t.Fatalf("a bad create reached the driver: %v", d.calls)
		}
	}
	// host and none are the bundle's: nothing here.
	for _, mode := range []string{"host", "none"} {
		c := newContainer(t, "h", Options{Network: mode})
		spec := &specs.Spec{}
		if err := m.Create(ctx, c, spec); err != nil || len(spec.Mounts) != 0 {
			t.Fatalf("--network %s: %v, %v", mode, err, spec.Mounts)
		}
		if err := m.Prestart(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	// A port taken between create and start is refused at start.
	c := newContainer(t, "late", Options{Publish: []string{"9998:80"}})
	if err := m.Create(ctx, c, &specs.Spec{}); err != nil {
		t.Fatal(err)
	}
	m.Ports.(*fakeProbe).busy[9998] = true
	if err := m.Prestart(ctx, c); err == nil || !strings.Contains(err.Error(), "9998") {
		t.Fatalf("busy at start: %v", err)
	}
}

func TestManagerCheck(t *testing.T) {
	m, d, _ := newManager(t, BeforeCreate)
	ctx := t.Context()
	running := newContainer(t, "running", Options{})
	gone := newContainer(t, "gone", Options{Network: "bridge", Publish: []string{"8081:80"}})
	stopped := newContainer(t, "stopped", Options{})
	for _, c := range []*engine.Container{running, gone, stopped} {
		if err := m.Create(ctx, c, &specs.Spec{}); err != nil {
			t.Fatal(err)
		}
	}
	running.State.Status = engine.StatusRunning
	live := []*engine.Container{running, stopped}
	problems, err := m.Check(ctx, live, false)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.What+": "+p.Issue)
	}
	want := []string{
		"lease 10.88.0.3 on network stockade: held by container gone, which no longer exists",
		m.FilesDir(gone.ID) + ": network files of a container that no longer exists",
		"interface stvdeadbeef: left over",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(d.attached) != 1 || d.attached[0].ContainerName != "running" {
		t.Fatalf("driver saw attached %v", d.attached)
	}
	if _, err := m.Check(ctx, live, true); err != nil {
		t.Fatal(err)
	}
	problems, _ = m.Check(ctx, live, false)
	if len(problems) != 1 {
		t.Fatalf("after repair: %+v", problems)
	}
	if pp, _ := m.Store.PublishedPorts(ctx, ""); len(pp) != 0 {
		t.Fatalf("the gone container's port is still held: %v", pp)
	}
}
