package network

import (
	"net/netip"
	"testing"

	"github.com/stockade/stockade/engine"
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
