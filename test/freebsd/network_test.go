//go:build freebsd

package freebsd

// The network scenarios of test/e2e/network_test.go, on FreeBSD: stockade
// itself (not only stockade-runtime) runs containers from an image made of
// the FreeBSD base, on bridges, epairs, vnet jails and pf. A server in a
// container is nc(1) in a loop, a client fetch(1). Traffic goes only to
// loopback and to addresses on the bridges the tests make.

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stockade/stockade/network"
)

// netSuite is the stockade installation the network tests share: the
// binary, its root, state and configuration, and the base image imported
// once (about 300 MB).
var netSuite struct {
	once sync.Once
	bin  string
	dir  string
	ref  string
	err  error
}

// stk is one test's handle on the shared installation.
type stk struct {
	t   *testing.T
	pfx string // the test's prefix for container and network names
}

// netSetup skips as setup does, makes the shared installation, and
// prepares pf and forwarding for the test (restored when it ends).
func netSetup(t *testing.T) *stk {
	t.Helper()
	setup(t)
	netSuite.once.Do(func() { netSuite.err = prepareNetSuite() })
	if netSuite.err != nil {
		t.Fatal(netSuite.err)
	}
	preparePF(t)
	s := &stk{t: t, pfx: fmt.Sprintf("n%d", os.Getpid()%100000)}
	t.Cleanup(func() {
		for _, id := range strings.Fields(s.run("ps", "-a", "-q").stdout) {
			s.run("rm", "-f", id)
		}
		for _, n := range strings.Fields(s.run("network", "ls", "-q").stdout) {
			if strings.HasPrefix(n, s.pfx) {
				s.run("network", "rm", n)
			}
		}
	})
	return s
}

func prepareNetSuite() error {
	netSuite.dir = filepath.Join(suite.dir, "stockade")
	if err := os.MkdirAll(netSuite.dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(netSuite.dir, "stockade.toml"), nil, 0o644); err != nil {
		return err
	}
	netSuite.bin = filepath.Join(suite.dir, "stockade-bin")
	build := exec.Command("go", "build", "-buildvcs=false", "-o", netSuite.bin, "github.com/stockade/stockade/cmd/stockade")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build stockade: %v\n%s", err, out)
	}
	layout := filepath.Join(suite.dir, "freebsd-image.tar")
	netSuite.ref = "localhost/stockade-it/freebsd:1"
	if err := writeImage(suite.rootfs, layout, netSuite.ref); err != nil {
		return fmt.Errorf("image of the base: %w", err)
	}
	defer os.Remove(layout)
	cmd := exec.Command(netSuite.bin, stkGlobal("image", "import", "-q", layout)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("stockade image import: %v\n%s", err, out)
	}
	return nil
}

func stkGlobal(args ...string) []string {
	return append([]string{"--root", filepath.Join(netSuite.dir, "root"), "--state", filepath.Join(netSuite.dir, "state"),
		"--config", filepath.Join(netSuite.dir, "stockade.toml")}, args...)
}

// preparePF makes sure pf evaluates stockade's anchors and the host
// forwards. A host whose pf is off with an empty ruleset (a CI VM) gets
// the three anchor lines and "pass all" for the test, and pf off again
// after it; a host whose own ruleset lacks the anchors fails the test
// rather than have it replaced.
func preparePF(t *testing.T) {
	t.Helper()
	command(t, "kldload", "-n", "pf")
	info := host(t, "pfctl", "-s", "info")
	nat, rules := command(t, "pfctl", "-s", "nat").stdout, command(t, "pfctl", "-s", "rules").stdout
	if !strings.Contains(nat, `nat-anchor "stockade/*"`) || !strings.Contains(nat, `rdr-anchor "stockade/*"`) || !strings.Contains(rules, `anchor "stockade/*"`) {
		if strings.Contains(info, "Status: Enabled") || strings.TrimSpace(nat+rules) != "" {
			t.Fatalf("pf has a ruleset of its own without stockade's anchors; add to pf.conf:\n" +
				"nat-anchor \"stockade/*\"\nrdr-anchor \"stockade/*\"\nanchor \"stockade/*\"")
		}
		conf := "nat-anchor \"stockade/*\"\nrdr-anchor \"stockade/*\"\npass all\nanchor \"stockade/*\"\n"
		cmd := exec.Command("pfctl", "-f", "-")
		cmd.Stdin = strings.NewReader(conf)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pfctl -f -: %v\n%s", err, out)
		}
		host(t, "pfctl", "-e")
		t.Cleanup(func() {
			command(t, "pfctl", "-d")
			command(t, "pfctl", "-F", "all")
		})
	} else if !strings.Contains(info, "Status: Enabled") {
		host(t, "pfctl", "-e")
		t.Cleanup(func() { command(t, "pfctl", "-d") })
	}
	for _, name := range []string{"net.inet.ip.forwarding", "net.inet6.ip6.forwarding"} {
		old := strings.TrimSpace(host(t, "sysctl", "-n", name))
		if old != "1" {
			host(t, "sysctl", name+"=1")
			t.Cleanup(func() { command(t, "sysctl", name+"="+old) })
		}
	}
}

// run runs stockade with the shared installation's flags.
func (s *stk) run(args ...string) result {
	s.t.Helper()
	r := command(s.t, netSuite.bin, stkGlobal(args...)...)
	r.cmd = "stockade " + strings.Join(args, " ")
	return r
}

func (s *stk) must(args ...string) result {
	s.t.Helper()
	r := s.run(args...)
	if r.err != nil {
		s.t.Fatalf("%v", r)
	}
	return r
}

// name is n with the test's prefix, for networks and containers.
func (s *stk) name(n string) string { return s.pfx + "-" + n }

// httpd is the command of a container that answers every HTTP request on
// port 80, over IPv4 and IPv6, with body (a family the jail lacks fails
// its nc, which then retries every second).
func httpd(body string) []string {
	loop := func(af string) string {
		return fmt.Sprintf("while :; do printf 'HTTP/1.0 200 OK\\r\\nConnection: close\\r\\n\\r\\n%s\\n' | nc -N -%s -l 80 >/dev/null || sleep 1; done", body, af)
	}
	return []string{"/bin/sh", "-c", "(" + loop("4") + ") & " + loop("6")}
}

// runServer runs a detached container on net serving body, with more flags.
func (s *stk) runServer(name, net, body string, flags ...string) {
	s.t.Helper()
	args := append([]string{"run", "-d", "--name", name, "--network", net}, flags...)
	s.must(append(append(args, netSuite.ref), httpd(body)...)...)
}

// fetchIn runs fetch(1) in a new container on net.
func (s *stk) fetchIn(net, url string) result {
	s.t.Helper()
	return s.run("run", "--rm", "--network", net, netSuite.ref, "fetch", "-q", "-T", "3", "-o", "-", url)
}

func (s *stk) netInspect(name string) network.Network {
	s.t.Helper()
	out := s.must("network", "inspect", name).stdout
	var n network.Network
	if err := json.Unmarshal([]byte(out), &n); err != nil {
		var ns []network.Network
		if err2 := json.Unmarshal([]byte(out), &ns); err2 != nil || len(ns) != 1 {
			s.t.Fatalf("network inspect %s: %v: %s", name, err, out)
		}
		n = ns[0]
	}
	return n
}

// endpoint is the container's first endpoint, from inspect.
func (s *stk) endpoint(name string) network.Endpoint {
	s.t.Helper()
	out := s.must("inspect", name).stdout
	var rec struct {
		Extensions map[string]json.RawMessage `json:"extensions"`
	}
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		var recs []json.RawMessage
		if err2 := json.Unmarshal([]byte(out), &recs); err2 != nil || len(recs) != 1 {
			s.t.Fatalf("inspect %s: %v: %s", name, err, out)
		}
		json.Unmarshal(recs[0], &rec)
	}
	var ext network.Extension
	if err := json.Unmarshal(rec.Extensions["network"], &ext); err != nil || len(ext.Endpoints) == 0 {
		s.t.Fatalf("inspect %s: no network endpoint (%v): %s", name, err, out)
	}
	return ext.Endpoints[0]
}

// monitorAndPid are a container's monitor and process, from ps.
func (s *stk) monitorAndPid(name string) (int, int) {
	s.t.Helper()
	var ps []struct {
		Name  string `json:"name"`
		State struct {
			Pid        int `json:"pid"`
			MonitorPid int `json:"monitorPid"`
		} `json:"state"`
	}
	out := s.must("ps", "-a", "--format", "json").stdout
	if err := json.Unmarshal([]byte(out), &ps); err != nil {
		s.t.Fatalf("ps json: %v: %s", err, out)
	}
	for _, p := range ps {
		if p.Name == name {
			return p.State.MonitorPid, p.State.Pid
		}
	}
	s.t.Fatalf("container %s not listed", name)
	return 0, 0
}

// leftovers lists what the host still has of a container: its epair's
// host end and its pf anchor.
func (s *stk) leftovers(ep network.Endpoint) []string {
	s.t.Helper()
	var out []string
	if command(s.t, "ifconfig", ep.HostIf).err == nil {
		out = append(out, "interface "+ep.HostIf)
	}
	for _, m := range strings.Fields(command(s.t, "ifconfig", "-g", "stockadeif").stdout) {
		if m == ep.HostIf {
			out = append(out, "group member "+m)
		}
	}
	for _, a := range strings.Fields(command(s.t, "pfctl", "-a", "stockade", "-s", "Anchors").stdout) {
		if strings.Contains(a, "/ep-"+ep.ContainerID[:12]) {
			out = append(out, "anchor "+a)
		}
	}
	return out
}

func (s *stk) wantLeftovers(ep network.Endpoint, want bool) {
	s.t.Helper()
	got := s.leftovers(ep)
	if want && len(got) == 0 {
		s.t.Errorf("container %s has no epair or anchor on the host", ep.ContainerID[:12])
	}
	if !want && len(got) > 0 {
		s.t.Errorf("container %s left: %s", ep.ContainerID[:12], strings.Join(got, "; "))
	}
}

func hostPort(a netip.Addr, port int) string { return netip.AddrPortFrom(a, uint16(port)).String() }

// netFreePort is a TCP port free on every address just now.
func netFreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func httpGet(addr string) (string, error) {
	c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

// waitGet fetches addr until it answers want (the server may be starting).
func waitGet(t *testing.T, addr, want string) {
	t.Helper()
	eventually(t, 20*time.Second, "GET http://"+addr+"/ answers "+want, func() (bool, string) {
		got, err := httpGet(addr)
		return err == nil && got == want, fmt.Sprintf("%q, %v", got, err)
	})
}

// serveOn starts an HTTP server of the test's on addr (a bridge's address).
func serveOn(t *testing.T, addr, body string) {
	t.Helper()
	var ln net.Listener
	eventually(t, 10*time.Second, "listen on "+addr, func() (bool, string) {
		var err error
		ln, err = net.Listen("tcp", addr) // an IPv6 address may be tentative a moment
		return err == nil, fmt.Sprint(err)
	})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// TestNetworkPublish: a published port answers on 127.0.0.1, ::1 and the
// network's gateway (a host address: the proxy serves what pf's rdr
// cannot), from another container through the gateway (hairpin); a port
// bound to 127.0.0.1 answers there only; `port` lists the mappings; rm
// leaves no epair, no anchor, and frees the address.
func TestNetworkPublish(t *testing.T) {
	s := netSetup(t)
	nw, web := s.name("pub"), s.name("web")
	s.must("network", "create", nw)
	hp, bound := netFreePort(t), netFreePort(t)
	s.runServer(web, nw, "web", "-p", fmt.Sprintf("%d:80", hp), "-p", fmt.Sprintf("127.0.0.1:%d:80", bound))
	gw := s.netInspect(nw).Gateway
	for _, addr := range []string{hostPort(netip.MustParseAddr("127.0.0.1"), hp), hostPort(netip.MustParseAddr("::1"), hp), hostPort(gw, hp)} {
		t.Run("host "+addr, func(t *testing.T) { waitGet(t, addr, "web") })
	}
	t.Run("bound to 127.0.0.1", func(t *testing.T) {
		waitGet(t, hostPort(netip.MustParseAddr("127.0.0.1"), bound), "web")
		if got, err := httpGet(hostPort(gw, bound)); err == nil {
			t.Errorf("a port bound to 127.0.0.1 answered on the gateway: %q", got)
		}
	})
	t.Run("hairpin", func(t *testing.T) {
		r := s.fetchIn(nw, "http://"+hostPort(gw, hp)+"/")
		if r.err != nil || strings.TrimSpace(r.stdout) != "web" {
			t.Errorf("fetch through the gateway from a container: %v", r)
		}
	})
	t.Run("port", func(t *testing.T) {
		out := s.must("port", web).stdout
		for _, want := range []string{fmt.Sprintf(":%d", hp), fmt.Sprintf("127.0.0.1:%d", bound), "80/tcp"} {
			if !strings.Contains(out, want) {
				t.Errorf("port: %q lacks %q", out, want)
			}
		}
	})
	ep := s.endpoint(web)
	s.wantLeftovers(ep, true)
	s.must("rm", "-f", web)
	s.wantLeftovers(ep, false)
	if got, err := httpGet(hostPort(netip.MustParseAddr("127.0.0.1"), hp)); err == nil {
		t.Errorf("the port still answers after rm: %q", got)
	}
	s.must("run", "-d", "--name", s.name("again"), "--network", nw, "--ip", ep.Addr.Addr().String(), netSuite.ref, "sleep", "60")
}

// TestNetworkPublishAll: -P publishes the image's EXPOSEd 80/tcp on a free
// host port.
func TestNetworkPublishAll(t *testing.T) {
	s := netSetup(t)
	nw, web := s.name("all"), s.name("web")
	s.must("network", "create", nw)
	s.runServer(web, nw, "all", "-P")
	ep := s.endpoint(web)
	if len(ep.Ports) != 1 || ep.Ports[0].ContainerPort != 80 || ep.Ports[0].HostPort == 0 {
		t.Fatalf("-P published %+v, want 80/tcp on a host port", ep.Ports)
	}
	hp := int(ep.Ports[0].HostPort)
	if out := s.must("port", web).stdout; !strings.Contains(out, strconv.Itoa(hp)) {
		t.Errorf("port: %q lacks %d", out, hp)
	}
	waitGet(t, hostPort(netip.MustParseAddr("127.0.0.1"), hp), "all")
}

// TestNetworkNames: containers on a user network reach each other by name
// and by alias.
func TestNetworkNames(t *testing.T) {
	s := netSetup(t)
	nw, alpha, alias := s.name("names"), s.name("alpha"), s.name("web-alias")
	s.must("network", "create", nw)
	s.runServer(alpha, nw, "alpha", "--network-alias", alias)
	waitGet(t, hostPort(s.endpoint(alpha).Addr.Addr(), 80), "alpha")
	for _, name := range []string{alpha, alias} {
		t.Run(name, func(t *testing.T) {
			r := s.fetchIn(nw, "http://"+name+"/")
			if r.err != nil || strings.TrimSpace(r.stdout) != "alpha" {
				t.Errorf("fetch http://%s/ from another container: %v", name, r)
			}
		})
	}
}

// TestNetworkHostServer: a container reaches a server on the host side of
// its bridge.
func TestNetworkHostServer(t *testing.T) {
	s := netSetup(t)
	nw := s.name("hostside")
	s.must("network", "create", nw)
	s.must("run", "-d", "--name", s.name("sleeper"), "--network", nw, netSuite.ref, "sleep", "60") // the bridge exists
	gw := s.netInspect(nw).Gateway
	port := netFreePort(t)
	serveOn(t, hostPort(gw, port), "host side")
	if r := s.fetchIn(nw, "http://"+hostPort(gw, port)+"/"); r.err != nil || r.stdout != "host side" {
		t.Errorf("fetch the host's server from a container: %v", r)
	}
}

// TestNetworkIPv6: a dual-stack network gives containers both addresses;
// host to container, container to container and container to host over
// IPv6, and a published port on ::1 and the IPv6 gateway.
func TestNetworkIPv6(t *testing.T) {
	s := netSetup(t)
	nw, six := s.name("dual"), s.name("six")
	s.must("network", "create", "--ipv6", "--subnet6", "fd5e:c0de:f12::/64", nw)
	n := s.netInspect(nw)
	if !n.Subnet6.IsValid() || !n.Gateway6.IsValid() {
		t.Fatalf("network inspect: no IPv6: %+v", n)
	}
	hp := netFreePort(t)
	s.runServer(six, nw, "six", "-p", fmt.Sprintf("%d:80", hp))
	ep := s.endpoint(six)
	if !ep.Addr6.IsValid() || !n.Subnet6.Contains(ep.Addr6.Addr()) {
		t.Fatalf("the container's IPv6 address %s is not in %s", ep.Addr6, n.Subnet6)
	}
	waitGet(t, hostPort(ep.Addr6.Addr(), 80), "six")
	waitGet(t, hostPort(n.Gateway6, hp), "six")
	waitGet(t, hostPort(netip.MustParseAddr("::1"), hp), "six")
	if r := s.fetchIn(nw, "http://"+hostPort(ep.Addr6.Addr(), 80)+"/"); r.err != nil || strings.TrimSpace(r.stdout) != "six" {
		t.Errorf("fetch over IPv6 from another container: %v", r)
	}
	port := netFreePort(t)
	serveOn(t, hostPort(n.Gateway6, port), "host over ipv6")
	if r := s.fetchIn(nw, "http://"+hostPort(n.Gateway6, port)+"/"); r.err != nil || r.stdout != "host over ipv6" {
		t.Errorf("fetch the host's IPv6 server: %v", r)
	}
}

// TestNetworkInternal: a container on an internal network has no default
// route and does not reach another network's gateway.
func TestNetworkInternal(t *testing.T) {
	s := netSetup(t)
	outside, inside := s.name("outside"), s.name("inside")
	s.must("network", "create", outside)
	s.must("network", "create", "--internal", inside)
	s.must("run", "-d", "--name", s.name("out"), "--network", outside, netSuite.ref, "sleep", "60")
	gw := s.netInspect(outside).Gateway
	port := netFreePort(t)
	serveOn(t, hostPort(gw, port), "outside")
	if r := s.fetchIn(outside, "http://"+hostPort(gw, port)+"/"); r.err != nil {
		t.Fatalf("control: a container on the other network does not reach the server: %v", r)
	}
	r := s.must("run", "--rm", "--network", inside, netSuite.ref, "netstat", "-rn", "-f", "inet")
	if strings.Contains(r.stdout, "default") {
		t.Errorf("an internal network's container has a default route:\n%s", r.stdout)
	}
	if r := s.fetchIn(inside, "http://"+hostPort(gw, port)+"/"); r.err == nil {
		t.Errorf("an internal network's container reached another network's gateway: %v", r)
	}
}

// TestNetworkIsolation: containers on two networks do not reach each
// other, while containers on one do.
func TestNetworkIsolation(t *testing.T) {
	s := netSetup(t)
	neta, netb, b := s.name("neta"), s.name("netb"), s.name("b")
	s.must("network", "create", neta)
	s.must("network", "create", netb)
	s.runServer(b, netb, "b")
	addr := s.endpoint(b).Addr.Addr()
	waitGet(t, hostPort(addr, 80), "b")
	if r := s.fetchIn(netb, "http://"+hostPort(addr, 80)+"/"); r.err != nil || strings.TrimSpace(r.stdout) != "b" {
		t.Fatalf("control: same network: %v", r)
	}
	if r := s.fetchIn(neta, "http://"+hostPort(addr, 80)+"/"); r.err == nil {
		t.Errorf("a container on %s reached one on %s: %v", neta, netb, r)
	}
}

// TestNetworkParallelAddresses: 20 containers started at once on one
// network get 20 distinct addresses of its subnet, each with its epair;
// rm -f leaves none.
func TestNetworkParallelAddresses(t *testing.T) {
	s := netSetup(t)
	nw := s.name("par")
	s.must("network", "create", nw)
	subnet := s.netInspect(nw).Subnet
	const n = 20
	var wg sync.WaitGroup
	results := make([]result, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.run("run", "-d", "--name", s.name("p"+strconv.Itoa(i)), "--network", nw, netSuite.ref, "sleep", "120")
		}()
	}
	wg.Wait()
	seen := map[netip.Addr]int{}
	var eps []network.Endpoint
	for i, r := range results {
		if r.err != nil {
			t.Errorf("run %d: %v", i, r)
			continue
		}
		ep := s.endpoint(s.name("p" + strconv.Itoa(i)))
		a := ep.Addr.Addr()
		if !subnet.Contains(a) {
			t.Errorf("p%d: %s outside %s", i, a, subnet)
		}
		if other, dup := seen[a]; dup {
			t.Errorf("p%d and p%d both have %s", i, other, a)
		}
		seen[a] = i
		eps = append(eps, ep)
	}
	for _, ep := range eps {
		s.wantLeftovers(ep, true)
	}
	s.must(append([]string{"rm", "-f"}, strings.Fields(s.must("ps", "-a", "-q").stdout)...)...)
	for _, ep := range eps {
		s.wantLeftovers(ep, false)
	}
}

// TestNetworkCheckAfterKill: after kill -9 of a container's monitor and
// process, `system check` removes its epair and anchor, and the published
// port no longer answers (its proxy died with the monitor); rm then frees
// the address.
func TestNetworkCheckAfterKill(t *testing.T) {
	s := netSetup(t)
	nw, victim := s.name("crash"), s.name("victim")
	s.must("network", "create", nw)
	hp := netFreePort(t)
	s.runServer(victim, nw, "victim", "-p", fmt.Sprintf("%d:80", hp))
	ep := s.endpoint(victim)
	waitGet(t, hostPort(netip.MustParseAddr("127.0.0.1"), hp), "victim")
	s.wantLeftovers(ep, true)
	mon, pid := s.monitorAndPid(victim)
	syscall.Kill(mon, syscall.SIGKILL)
	syscall.Kill(pid, syscall.SIGKILL)
	time.Sleep(300 * time.Millisecond)

	r := s.must("system", "check", "--dry-run")
	if !strings.Contains(r.stdout, ep.HostIf) {
		t.Errorf("check --dry-run does not name the epair %s:\n%s", ep.HostIf, r.stdout)
	}
	s.wantLeftovers(ep, true) // a dry run repairs nothing
	s.must("system", "check")
	s.wantLeftovers(ep, false)
	if got, err := httpGet(hostPort(netip.MustParseAddr("127.0.0.1"), hp)); err == nil {
		t.Errorf("the port still answers after check: %q", got)
	}
	s.must("rm", "-f", victim)
	s.must("run", "-d", "--name", s.name("taker"), "--network", nw, "--ip", ep.Addr.Addr().String(), netSuite.ref, "sleep", "60")
}

// TestNetworkAlias: --network alias:lo0 --ip ADDR (Bastille's shared-IP
// style) gives a jail without vnet the address, aliased on lo0 while the
// container runs and gone after rm.
func TestNetworkAlias(t *testing.T) {
	s := netSetup(t)
	name, addr := s.name("shared"), "127.0.113.7"
	s.runServer(name, "alias:lo0", "shared", "--ip", addr)
	if out := host(t, "ifconfig", "lo0", "inet"); !strings.Contains(out, addr) {
		t.Errorf("lo0 lacks the alias %s:\n%s", addr, out)
	}
	waitGet(t, addr+":80", "shared")
	_, pid := s.monitorAndPid(name)
	jid := strings.TrimSpace(host(t, "ps", "-o", "jid=", "-p", strconv.Itoa(pid)))
	if got := jailParams(t, jid, "vnet", "ip4.addr"); !slices.Equal(got, []string{"vnet=inherit", "ip4.addr=" + addr}) {
		t.Errorf("jls: %v, want vnet=inherit (no vnet) and ip4.addr=%s", got, addr)
	}
	s.must("rm", "-f", name)
	if out := host(t, "ifconfig", "lo0", "inet"); strings.Contains(out, addr) {
		t.Errorf("the alias %s stayed on lo0 after rm:\n%s", addr, out)
	}
}

// writeImage writes an OCI layout tar of rootfs (without what containers
// do not need: the kernel, sources' headers, documentation, 32-bit and
// debug libraries, tests) as image ref: one uncompressed layer, /bin/sh,
// port 80 exposed.
func writeImage(rootfs, file, ref string) error {
	dir, err := os.MkdirTemp(filepath.Dir(file), "layer-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	layer := filepath.Join(dir, "layer.tar")
	layerDigest, layerSize, err := writeLayer(rootfs, layer)
	if err != nil {
		return err
	}
	config, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH, "os": "freebsd",
		"config": map[string]any{
			"Cmd": []string{"/bin/sh"}, "Env": []string{"PATH=/bin:/usr/bin:/sbin:/usr/sbin"},
			"ExposedPorts": map[string]any{"80/tcp": map[string]any{}},
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
	})
	if err != nil {
		return err
	}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digestOf(config), "size": len(config)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layerDigest, "size": layerSize}},
	})
	if err != nil {
		return err
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
		"manifests": []any{map[string]any{
			"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digestOf(manifest), "size": len(manifest),
			"annotations": map[string]string{"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": "1"},
		}},
	})
	if err != nil {
		return err
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := add("index.json", index); err != nil {
		return err
	}
	for _, b := range [][]byte{config, manifest} {
		if err := add("blobs/sha256/"+strings.TrimPrefix(digestOf(b), "sha256:"), b); err != nil {
			return err
		}
	}
	lf, err := os.Open(layer)
	if err != nil {
		return err
	}
	defer lf.Close()
	if err := tw.WriteHeader(&tar.Header{Name: "blobs/sha256/" + strings.TrimPrefix(layerDigest, "sha256:"), Mode: 0o644, Size: layerSize, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, lf); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// writeLayer tars rootfs into file and returns the tar's digest and size.
func writeLayer(rootfs, file string) (string, int64, error) {
	skip := map[string]bool{"boot": true, "rescue": true, "usr/share": true, "usr/include": true,
		"usr/lib32": true, "usr/lib/debug": true, "usr/tests": true, "usr/src": true, "usr/obj": true}
	f, err := os.Create(file)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	tw := tar.NewWriter(cw)
	err = filepath.WalkDir(rootfs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(rootfs, p)
		if err != nil || rel == "." {
			return err
		}
		if skip[rel] {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		} else if !info.Mode().IsRegular() && !info.IsDir() {
			return nil // sockets, fifos, devices
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = rel
		if info.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, src)
			src.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return "", 0, err
	}
	if err := tw.Close(); err != nil {
		return "", 0, err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), cw.n, f.Close()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}
