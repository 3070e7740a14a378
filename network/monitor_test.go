package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/network/proxy"
)

// forwardingDriver is a recordingDriver that forwards the ports of the
// endpoints it is told to.
type forwardingDriver struct {
	recordingDriver
	yes bool
}

func (d *forwardingDriver) Forwards(ep *Endpoint) bool { return d.yes && len(ep.Ports) > 0 }

func TestNeedsMonitor(t *testing.T) {
	withPorts := func(ports ...PortMapping) *engine.Container {
		c := &engine.Container{ID: "c1", Name: "web"}
		ext := Extension{Endpoints: []Endpoint{{Network: "bridge"}, {Network: "other", Ports: ports}}}
		if err := c.SetExtension(HookName, ext); err != nil {
			t.Fatal(err)
		}
		return c
	}
	port := PortMapping{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}
	for _, tc := range []struct {
		name   string
		driver Driver
		c      *engine.Container
		want   bool
	}{
		{"no driver", nil, withPorts(port), false},
		{"no extension", &recordingDriver{}, &engine.Container{ID: "c2"}, false},
		{"not a PortForwarder, published port", &recordingDriver{}, withPorts(port), true},
		{"not a PortForwarder, no port", &recordingDriver{}, withPorts(), false},
		{"driver forwards", &forwardingDriver{yes: true}, withPorts(port), true},
		{"driver does not forward", &forwardingDriver{}, withPorts(port), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &Manager{Driver: tc.driver}
			if got := m.NeedsMonitor(tc.c); got != tc.want {
				t.Errorf("NeedsMonitor = %v, want %v", got, tc.want)
			}
		})
	}
}

// handOffDriver is a forwardingDriver whose endpoints' forwarders are
// real proxies on loopback; it records the hand-offs and adoptions.
type handOffDriver struct {
	forwardingDriver
	proxies map[string][]*proxy.Proxy // by network
	busy    bool
	calls   []string
}

func (d *handOffDriver) HandOff(n *Network, ep *Endpoint) ([]*proxy.Proxy, func(), error) {
	d.calls = append(d.calls, "HandOff "+n.Name)
	if d.busy {
		return nil, nil, engine.ErrForwarding
	}
	return d.proxies[n.Name], func() { d.calls = append(d.calls, "resume "+n.Name) }, nil
}

func (d *handOffDriver) Adopt(n *Network, ep *Endpoint, fs []Forwarder) error {
	for _, f := range fs {
		d.calls = append(d.calls, fmt.Sprintf("Adopt %s %s %s file=%v", n.Name, f.Proto, f.Target, f.File != nil))
	}
	return nil
}

// TestForwarderHandOff: the manager hands off the forwarders of the
// endpoints that have them, named by network, and gives the ones passed
// back to the driver by network; a busy driver's ErrForwarding resumes
// the ones paused before.
func TestForwarderHandOff(t *testing.T) {
	target := netip.MustParseAddrPort("10.88.0.5:80")
	px, err := proxy.Listen("tcp", netip.MustParseAddrPort("127.0.0.1:0"), target)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	d := &handOffDriver{forwardingDriver: forwardingDriver{yes: true}, proxies: map[string][]*proxy.Proxy{"other": {px}}}
	m := &Manager{Driver: d}
	c := &engine.Container{ID: "c1", Name: "web"}
	port := PortMapping{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}
	ext := Extension{
		Endpoints: []Endpoint{{Network: "bridge"}, {Network: "other", Ports: []PortMapping{port}}},
		Networks:  []*Network{{Name: "bridge"}, {Name: "other"}},
	}
	if err := c.SetExtension(HookName, ext); err != nil {
		t.Fatal(err)
	}
	if m.NeedsMonitor(c) {
		t.Error("NeedsMonitor = true with a driver that hands its forwarders off")
	}
	fs, resume, err := m.HandOffForwarders(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].Owner != "other" || fs[0].Proto != "tcp" || fs[0].Target != target || fs[0].Conn != px {
		t.Fatalf("handed off %+v", fs)
	}
	resume()
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = m.AdoptForwarders(context.Background(), c, []engine.Forwarder{
		{Owner: "other", Proto: "udp", Target: target, Conn: f},
		{Owner: "gone", Proto: "tcp", Target: target, Conn: f}, // no such endpoint: dropped
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"HandOff other", "resume other", "Adopt other udp 10.88.0.5:80 file=true"}
	if strings.Join(d.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(d.calls, "\n"), strings.Join(want, "\n"))
	}

	d.calls, d.busy = nil, true
	if _, _, err := m.HandOffForwarders(c); !errors.Is(err, engine.ErrForwarding) {
		t.Errorf("busy driver: %v, want ErrForwarding", err)
	}
}
