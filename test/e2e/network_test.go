package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stockade/stockade/network"
)

// The network tests run real containers on real bridges, veths, network
// namespaces and nftables rules, and send traffic only to loopback and to
// addresses on the networks they create (their gateways, their
// containers).

var (
	bbOnce   sync.Once
	bbLayout string
	bbErr    error
)

// busyboxImage pushes an image of Debian's static busybox to reg: /bin/sh,
// httpd, wget, ip and friends as links to /bin/busybox, /www/index.html,
// port 80/tcp exposed.
func busyboxImage(t *testing.T, reg *registry) string {
	t.Helper()
	need(t, "umoci", "skopeo", "runc")
	bbOnce.Do(func() {
		bb, err := os.ReadFile("/bin/busybox")
		if err != nil {
			bbErr = fmt.Errorf("busybox: %w (apt-get install busybox-static)", err)
			return
		}
		bbLayout, bbErr = sharedLayout("bb-", func(rootfs string) error {
			for _, d := range []string{"bin", "etc", "www", "tmp"} {
				os.MkdirAll(filepath.Join(rootfs, d), 0o755)
			}
			if err := os.WriteFile(filepath.Join(rootfs, "bin/busybox"), bb, 0o755); err != nil {
				return err
			}
			for _, name := range []string{"sh", "httpd", "wget", "ip", "sleep", "true", "cat", "echo", "hostname", "nslookup", "nc", "ping", "timeout"} {
				os.Symlink("busybox", filepath.Join(rootfs, "bin", name))
			}
			os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte("root:x:0:0:root:/:/bin/sh\n"), 0o644)
			os.WriteFile(filepath.Join(rootfs, "etc/group"), []byte("root:x:0:\n"), 0o644)
			return os.WriteFile(filepath.Join(rootfs, "www/index.html"), []byte("busybox\n"), 0o644)
		}, "--config.cmd", "sh", "--config.env", "PATH=/bin", "--config.exposedports", "80/tcp")
	})
	if bbErr != nil {
		t.Fatal(bbErr)
	}
	ref := reg.addr + "/e2e/busybox:1"
	pushLayout(t, bbLayout, ref, "")
	return ref
}

// netEnv is an env with the busybox image pulled.
func netEnv(t *testing.T) (*env, string) {
	need(t, "nft", "ip")
	reg := startRegistry(t)
	ref := busyboxImage(t, reg)
	e := newEnv(t)
	e.must("pull", "-q", ref)
	t.Cleanup(func() {
		for _, id := range strings.Fields(e.run("ps", "-a", "-q").stdout) {
			e.run("rm", "-f", id)
		}
		for _, n := range strings.Fields(e.run("network", "ls", "-q").stdout) {
			e.run("network", "rm", n)
		}
	})
	return e, ref
}

// httpd is the command of a container serving its name on port 80.
func httpd(name string) []string {
	return []string{"sh", "-c", "echo " + name + " > /www/index.html && exec httpd -f -p 80 -h /www"}
}

// netInspect returns the network named name.
func (e *env) netInspect(name string) network.Network {
	e.t.Helper()
	r := e.must("network", "inspect", name)
	var n network.Network
	if err := json.Unmarshal([]byte(r.stdout), &n); err != nil {
		var ns []network.Network
		if err2 := json.Unmarshal([]byte(r.stdout), &ns); err2 != nil || len(ns) != 1 {
			e.t.Fatalf("network inspect %s: %v: %s", name, err, r.stdout)
		}
		n = ns[0]
	}
	return n
}

// endpoint returns the container's endpoint (its first).
func (e *env) endpoint(name string) network.Endpoint {
	e.t.Helper()
	r := e.must("inspect", name)
	var rec struct {
		ID         string                     `json:"id"`
		Extensions map[string]json.RawMessage `json:"extensions"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rec); err != nil {
		var recs []json.RawMessage
		if err2 := json.Unmarshal([]byte(r.stdout), &recs); err2 != nil || len(recs) != 1 {
			e.t.Fatalf("inspect %s: %v: %s", name, err, r.stdout)
		}
		json.Unmarshal(recs[0], &rec)
	}
	var ext network.Extension
	if err := json.Unmarshal(rec.Extensions["network"], &ext); err != nil || len(ext.Endpoints) == 0 {
		e.t.Fatalf("inspect %s: no network endpoint (%v): %s", name, err, r.stdout)
	}
	return ext.Endpoints[0]
}

// httpGet fetches http://addr/ from the host.
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
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := httpGet(addr)
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET http://%s/: %q, %v; want %q", addr, got, err, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// wgetIn runs busybox wget in a new container on net and returns its
// result.
func (e *env) wgetIn(ref, net, url string) result {
	e.t.Helper()
	// busybox 1.35's wget -T crashes (SIGSEGV): timeout(1) bounds it, under
	// a shell that stays pid 1 (the kernel ignores SIGTERM to a pid 1
	// without a handler, and busybox's timeout signals the command it
	// execs in its own place).
	return e.run("run", "--rm", "--network", net, ref, "sh", "-c", "timeout 5 wget -q -O - "+url+"; exit $?")
}

// hostPort is addr:port, bracketing IPv6.
func hostPort(a netip.Addr, port int) string {
	return netip.AddrPortFrom(a, uint16(port)).String()
}

// leftovers lists what the host still has of a container: its veth, its
// nftables rules (their comments name its id), its network namespace.
func (e *env) leftovers(ep network.Endpoint) []string {
	e.t.Helper()
	var out []string
	if _, err := net.InterfaceByName(ep.HostIf); err == nil {
		out = append(out, "interface "+ep.HostIf)
	}
	links, _ := exec.Command("ip", "-o", "link", "show").Output()
	for _, l := range strings.Split(string(links), "\n") {
		if strings.Contains(l, ep.ContainerID) {
			out = append(out, "link "+l)
		}
	}
	rules, _ := exec.Command("nft", "-a", "list", "table", "inet", "stockade").CombinedOutput()
	for _, l := range strings.Split(string(rules), "\n") {
		if strings.Contains(l, ep.ContainerID) {
			out = append(out, "rule "+strings.TrimSpace(l))
		}
	}
	ns, _ := filepath.Glob(filepath.Join(e.state, "network", "netns", ep.ContainerID[:12]+"*"))
	for _, p := range ns {
		out = append(out, "netns "+p)
	}
	return out
}

func (e *env) wantLeftovers(ep network.Endpoint, want bool) {
	e.t.Helper()
	got := e.leftovers(ep)
	// The kernel deletes a veth pair with its namespace, in the
	// background: give it a moment.
	for deadline := time.Now().Add(5 * time.Second); !want && len(got) > 0 && time.Now().Before(deadline); got = e.leftovers(ep) {
		time.Sleep(50 * time.Millisecond)
	}
	if want && len(got) == 0 {
		e.t.Errorf("container %s has no veth, rule or namespace on the host", ep.ContainerID[:12])
	}
	if !want && len(got) > 0 {
		e.t.Errorf("container %s left: %s", ep.ContainerID[:12], strings.Join(got, "; "))
	}
}

// TestNetworkPublish: busybox httpd published with -p answers on
// 127.0.0.1, ::1 and the network's gateway (the host's address on the
// bridge), from the host and from another container (hairpin); a port
// bound to 127.0.0.1 answers there only; `port` lists the mappings.
func TestNetworkPublish(t *testing.T) {
	e, ref := netEnv(t)
	e.must("network", "create", "pubnet")
	hp, bound := freePort(t), freePort(t)
	e.must("run", "-d", "--name", "web", "--network", "pubnet", "-p", fmt.Sprintf("%d:80", hp),
		"-p", fmt.Sprintf("127.0.0.1:%d:80", bound), ref, httpd("web")[0], httpd("web")[1], httpd("web")[2])
	gw := e.netInspect("pubnet").Gateway
	for _, addr := range []string{hostPort(netip.MustParseAddr("127.0.0.1"), hp), hostPort(netip.MustParseAddr("::1"), hp), hostPort(gw, hp)} {
		t.Run("host "+addr, func(t *testing.T) { waitGet(t, addr, "web") })
	}
	t.Run("bound to 127.0.0.1", func(t *testing.T) {
		waitGet(t, hostPort(netip.MustParseAddr("127.0.0.1"), bound), "web")
		if got, err := httpGet(hostPort(gw, bound)); err == nil {
			t.Errorf("a port bound to 127.0.0.1 answered on the gateway: %q", got)
		}
	})
	t.Run("hairpin from another container", func(t *testing.T) {
		r := e.wgetIn(ref, "pubnet", "http://"+hostPort(gw, hp)+"/")
		if r.code != 0 || strings.TrimSpace(r.stdout) != "web" {
			t.Errorf("wget through the gateway from a container: %s", r)
		}
	})
	t.Run("port", func(t *testing.T) {
		out := e.must("port", "web").stdout
		for _, want := range []string{fmt.Sprintf(":%d", hp), fmt.Sprintf("127.0.0.1:%d", bound), "80/tcp"} {
			if !strings.Contains(out, want) {
				t.Errorf("port web: %q lacks %q", out, want)
			}
		}
	})
	ep := e.endpoint("web")
	e.wantLeftovers(ep, true)
	e.must("rm", "-f", "web")
	e.wantLeftovers(ep, false)
	if got, err := httpGet(hostPort(netip.MustParseAddr("127.0.0.1"), hp)); err == nil {
		t.Errorf("the port still answers after rm: %q", got)
	}
	// The address was released: a new container may take it.
	e.must("run", "-d", "--name", "again", "--network", "pubnet", "--ip", ep.Addr.Addr().String(), ref, "sleep", "60")
}

// TestNetworkPublishAll: -P publishes every EXPOSEd port on a free host
// port, which `port` tells.
func TestNetworkPublishAll(t *testing.T) {
	e, ref := netEnv(t)
	e.must("network", "create", "allnet")
	e.must("run", "-d", "--name", "web", "--network", "allnet", "-P", ref, httpd("all")[0], httpd("all")[1], httpd("all")[2])
	ep := e.endpoint("web")
	if len(ep.Ports) != 1 || ep.Ports[0].ContainerPort != 80 || ep.Ports[0].HostPort == 0 {
		t.Fatalf("-P published %+v, want 80/tcp on a host port", ep.Ports)
	}
	hp := int(ep.Ports[0].HostPort)
	if out := e.must("port", "web").stdout; !strings.Contains(out, strconv.Itoa(hp)) {
		t.Errorf("port web: %q lacks %d", out, hp)
	}
	waitGet(t, hostPort(netip.MustParseAddr("127.0.0.1"), hp), "all")
}

// TestNetworkNames: two containers on a user network reach each other by
// name and by alias.
func TestNetworkNames(t *testing.T) {
	e, ref := netEnv(t)
	e.must("network", "create", "names")
	e.must("run", "-d", "--name", "alpha", "--network", "names", "--network-alias", "web-alias", ref, httpd("alpha")[0], httpd("alpha")[1], httpd("alpha")[2])
	ep := e.endpoint("alpha")
	waitGet(t, hostPort(ep.Addr.Addr(), 80), "alpha")
	for _, name := range []string{"alpha", "web-alias"} {
		t.Run(name, func(t *testing.T) {
			r := e.wgetIn(ref, "names", "http://"+name+"/")
			if r.code != 0 || strings.TrimSpace(r.stdout) != "alpha" {
				t.Errorf("wget http://%s/ from another container: %s", name, r)
			}
		})
	}
}

// serveOn starts an HTTP server of the test's on addr, answering body.
func serveOn(t *testing.T, addr, body string) {
	t.Helper()
	var ln net.Listener
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The gateway's address may still be tentative a moment.
		if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// TestNetworkHostServer: a container reaches a server on the host side of
// its bridge (the gateway).
func TestNetworkHostServer(t *testing.T) {
	e, ref := netEnv(t)
	e.must("network", "create", "hostside")
	e.must("run", "-d", "--name", "sleeper", "--network", "hostside", ref, "sleep", "60")
	gw := e.netInspect("hostside").Gateway
	port := freePort(t)
	serveOn(t, hostPort(gw, port), "host side")
	r := e.wgetIn(ref, "hostside", "http://"+hostPort(gw, port)+"/")
	if r.code != 0 || r.stdout != "host side" {
		t.Errorf("wget the host's server from a container: %s", r)
	}
}

// TestNetworkIPv6: a dual-stack network gives containers both addresses,
// and they talk over IPv6, host to container and container to container.
func TestNetworkIPv6(t *testing.T) {
	e, ref := netEnv(t)
	e.must("network", "create", "--ipv6", "--subnet6", "fd5e:c0de:12::/64", "dual")
	n := e.netInspect("dual")
	if !n.Subnet6.IsValid() || !n.Gateway6.IsValid() {
		t.Fatalf("network inspect: no IPv6: %+v", n)
	}
	hp := freePort(t)
	e.must("run", "-d", "--name", "six", "--network", "dual", "-p", fmt.Sprintf("%d:80", hp), ref, httpd("six")[0], httpd("six")[1], httpd("six")[2])
	ep := e.endpoint("six")
	if !ep.Addr6.IsValid() || !n.Subnet6.Contains(ep.Addr6.Addr()) {
		t.Fatalf("container's IPv6 address %s, want one in %s", ep.Addr6, n.Subnet6)
	}
	waitGet(t, hostPort(ep.Addr6.Addr(), 80), "six")
	waitGet(t, hostPort(n.Gateway6, hp), "six")
	waitGet(t, hostPort(netip.MustParseAddr("::1"), hp), "six")
	r := e.wgetIn(ref, "dual", "http://"+hostPort(ep.Addr6.Addr(), 80)+"/")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "six" {
		t.Errorf("wget over IPv6 from another container: %s", r)
	}
	port := freePort(t)
	serveOn(t, hostPort(n.Gateway6, port), "host over ipv6")
	r = e.wgetIn(ref, "dual", "http://"+hostPort(n.Gateway6, port)+"/")
	if r.code != 0 || r.stdout != "host over ipv6" {
		t.Errorf("wget the host's IPv6 server: %s", r)
	}
}

// TestNetworkInternal: a container on an internal network has no default
// route and does not reach a server on another network's gateway.
func TestNetworkInternal(t *testing.T) {
	e, ref := netEnv(t)
	e.must("network", "create", "outside")
	e.must("network", "create", "--internal", "inside")
	e.must("run", "-d", "--name", "out", "--network", "outside", ref, "sleep", "60")
	gw := e.netInspect("outside").Gateway
	port := freePort(t)
	serveOn(t, hostPort(gw, port), "outside")
	if r := e.wgetIn(ref, "outside", "http://"+hostPort(gw, port)+"/"); r.code != 0 {
		t.Fatalf("control: a container on the other network does not reach the server: %s", r)
	}
	r := e.must("run", "--rm", "--network", "inside", ref, "ip", "route")
	if strings.Contains(r.stdout, "default") {
		t.Errorf("an internal network's container has a default route:\n%s", r.stdout)
	}
	if r := e.wgetIn(ref, "inside", "http://"+hostPort(gw, port)+"/"); r.code == 0 {
		t.Errorf("an internal network's container reached another network's gateway: %s", r)
	}
}

// TestNetworkIsolation: containers on two networks do not reach each
// other, while containers on one do.
func TestNetworkIsolation(t *testing.T) {
	e, ref := netEnv(t)
	e.must("network", "create", "neta")
	e.must("network", "create", "netb")
	e.must("run", "-d", "--name", "bnode", "--network", "netb", ref, httpd("bnode")[0], httpd("bnode")[1], httpd("bnode")[2])
	addr := e.endpoint("bnode").Addr.Addr()
	waitGet(t, hostPort(addr, 80), "bnode")
	if r := e.wgetIn(ref, "netb", "http://"+hostPort(addr, 80)+"/"); r.code != 0 || strings.TrimSpace(r.stdout) != "bnode" {
		t.Fatalf("control: same network: %s", r)
	}
	if r := e.wgetIn(ref, "neta", "http://"+hostPort(addr, 80)+"/"); r.code == 0 {
		t.Errorf("a container on neta reached one on netb: %s", r)
	}
	// netb's name server, at netb's gateway (an address of the host, which
	// a container of neta reaches), answers netb's containers only.
	gw := e.netInspect("netb").Gateway.String()
	lookup := func(net string) result {
		return e.run("run", "--rm", "--network", net, ref, "sh", "-c", "timeout 5 nslookup bnode "+gw+"; exit $?")
	}
	if r := lookup("netb"); r.code != 0 || !strings.Contains(r.stdout, addr.String()) {
		t.Errorf("control: netb's name server from netb: %s", r)
	}
	if r := lookup("neta"); strings.Contains(r.stdout, addr.String()) {
		t.Errorf("a container on neta learned netb's names from netb's name server: %s", r)
	}
}

// TestNetworkParallelAddresses: 20 containers started at once on one
// network get 20 distinct addresses of its subnet.
func TestNetworkParallelAddresses(t *testing.T) {
	e, ref := netEnv(t)
	e.must("network", "create", "par")
	subnet := e.netInspect("par").Subnet
	const n = 20
	var wg sync.WaitGroup
	results := make([]result, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.run("run", "-d", "--name", "p"+strconv.Itoa(i), "--network", "par", ref, "sleep", "120")
		}()
	}
	wg.Wait()
	seen := map[netip.Addr]string{}
	var hostIfs []string
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("run %d: %s", i, r)
			continue
		}
		ep := e.endpoint("p" + strconv.Itoa(i))
		a := ep.Addr.Addr()
		if !subnet.Contains(a) {
			t.Errorf("p%d: %s outside %s", i, a, subnet)
		}
		if other, dup := seen[a]; dup {
			t.Errorf("p%d and %s both have %s", i, other, a)
		}
		seen[a] = "p" + strconv.Itoa(i)
		hostIfs = append(hostIfs, ep.HostIf)
	}
	// Each is really there: its veth exists.
	for _, name := range hostIfs {
		if _, err := net.InterfaceByName(name); err != nil {
			t.Errorf("veth %s: %v", name, err)
		}
	}
	ids := strings.Fields(e.must("ps", "-a", "-q").stdout)
	e.must(append([]string{"rm", "-f"}, ids...)...)
	eventually(t, 10*time.Second, "the veths to go after rm -f", func() bool {
		for _, name := range hostIfs {
			if _, err := net.InterfaceByName(name); err == nil {
				return false
			}
		}
		return true
	})
}

// TestNetworkCheckAfterKill: after kill -9 of a container's monitor and
// process, `system check` removes its veth, rules and namespace; rm then
// frees its address.
func TestNetworkCheckAfterKill(t *testing.T) {
	e, ref := netEnv(t)
	e.must("network", "create", "crash")
	hp := freePort(t)
	e.must("run", "-d", "--name", "victim", "--network", "crash", "-p", fmt.Sprintf("%d:80", hp), ref, httpd("victim")[0], httpd("victim")[1], httpd("victim")[2])
	ep := e.endpoint("victim")
	waitGet(t, hostPort(netip.MustParseAddr("127.0.0.1"), hp), "victim")
	e.wantLeftovers(ep, true)
	p := e.psOne("victim")
	syscall.Kill(p.State.MonitorPid, syscall.SIGKILL)
	syscall.Kill(p.State.Pid, syscall.SIGKILL)
	time.Sleep(300 * time.Millisecond)

	r := e.must("system", "check", "--dry-run")
	if !strings.Contains(r.stdout, ep.HostIf) {
		t.Errorf("check --dry-run does not name the veth %s:\n%s", ep.HostIf, r.stdout)
	}
	e.wantLeftovers(ep, true) // a dry run repairs nothing
	e.must("system", "check")
	e.wantLeftovers(ep, false)
	if r := e.must("system", "check"); strings.TrimSpace(r.stdout) != "no problems found" {
		t.Errorf("second check still finds problems:\n%s", r.stdout)
	}
	if got, err := httpGet(hostPort(netip.MustParseAddr("127.0.0.1"), hp)); err == nil {
		t.Errorf("the port still answers after check: %q", got)
	}
	// A stopped container keeps its address; rm frees it.
	if r := e.run("run", "-d", "--name", "taker", "--network", "crash", "--ip", ep.Addr.Addr().String(), ref, "sleep", "60"); r.code == 0 {
		t.Errorf("an exited container's address was given again: %s", r)
	}
	e.must("rm", "-f", "victim")
	e.must("run", "-d", "--name", "taker2", "--network", "crash", "--ip", ep.Addr.Addr().String(), ref, "sleep", "60")
}

// TestNetworkBadInput: refusals name what was typed and leave nothing.
func TestNetworkBadInput(t *testing.T) {
	e, ref := netEnv(t)
	e.must("network", "create", "--subnet", "10.123.45.0/24", "good")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"network", "create", "--subnet", "10.123.45.128/25", "overlap"}, "10.123.45.128/25"},
		{[]string{"network", "create", "--subnet", "10.300.0.0/16", "bad"}, "10.300.0.0/16"},
		{[]string{"run", "--network", "nosuch", ref, "true"}, "nosuch"},
		{[]string{"run", "--network", "good", "--ip", "10.9.9.9", ref, "true"}, "10.9.9.9"},
		{[]string{"run", "--network", "good", "-p", "99999:80", ref, "true"}, "99999"},
		{[]string{"run", "--network", "good", "-p", fmt.Sprintf("127.0.0.1:%d:80", busyPort), ref, "true"}, strconv.Itoa(busyPort)},
	}
	for _, tc := range tests {
		r := e.run(tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("stockade %s: want one line naming %q, non-zero exit; got %s", strings.Join(tc.args, " "), tc.want, r)
		}
	}
	if out := e.must("ps", "-a", "-q").stdout; strings.TrimSpace(out) != "" {
		t.Errorf("refused runs left containers: %s", out)
	}
	nets := strings.Fields(e.must("network", "ls", "-q").stdout)
	if slices.Contains(nets, "overlap") || slices.Contains(nets, "bad") {
		t.Errorf("refused creates left networks: %v", nets)
	}
}

// TestNetworkBoot: after a reboot (simulated: shutdown, then the bridge
// and the network's nftables rules deleted, as a reboot loses them), boot
// makes the network's host side again and the published port answers.
func TestNetworkBoot(t *testing.T) {
	e, ref := netEnv(t)
	e.must("network", "create", "bootnet")
	n := e.netInspect("bootnet")
	hp := freePort(t)
	e.must("run", "-d", "--name", "svc", "--restart", "always", "--network", "bootnet", "-p", fmt.Sprintf("127.0.0.1:%d:80", hp),
		ref, httpd("svc")[0], httpd("svc")[1], httpd("svc")[2])
	addr := hostPort(netip.MustParseAddr("127.0.0.1"), hp)
	waitGet(t, addr, "svc")
	e.must("shutdown", "-t", "2")

	// What a reboot loses: the bridge, and the network's rules.
	if out, err := exec.Command("ip", "link", "del", n.Interface).CombinedOutput(); err != nil {
		t.Fatalf("ip link del %s: %v: %s", n.Interface, err, out)
	}
	deleteRulesOf(t, n.ID)
	if _, err := net.InterfaceByName(n.Interface); err == nil {
		t.Fatal("the bridge is still there")
	}

	if out := e.must("boot").stdout; strings.TrimSpace(out) != "svc" {
		t.Fatalf("boot started %q, want svc", out)
	}
	if _, err := net.InterfaceByName(n.Interface); err != nil {
		t.Errorf("boot did not make the bridge %s again: %v", n.Interface, err)
	}
	waitGet(t, addr, "svc")
}

// deleteRulesOf deletes the rules of stockade's nftables table whose
// comment names the network id.
func deleteRulesOf(t *testing.T, id string) {
	t.Helper()
	out, err := exec.Command("nft", "-a", "list", "table", "inet", "stockade").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list: %v: %s", err, out)
	}
	chain, deleted := "", 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "chain" {
			chain = f[1]
			continue
		}
		if !strings.Contains(line, id) || !strings.Contains(line, "# handle ") {
			continue
		}
		handle := line[strings.LastIndex(line, "# handle ")+len("# handle "):]
		if out, err := exec.Command("nft", "delete", "rule", "inet", "stockade", chain, "handle", strings.TrimSpace(handle)).CombinedOutput(); err != nil {
			t.Fatalf("nft delete rule %s %s: %v: %s", chain, handle, err, out)
		}
		deleted++
	}
	if deleted == 0 {
		t.Fatalf("no rule of network %s in:\n%s", id, out)
	}
}
