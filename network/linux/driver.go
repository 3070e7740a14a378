package linux

import (
	"fmt"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/network"
)

// Config is where the driver keeps its files.
type Config struct {
	// StateDir holds the containers' network namespaces (StateDir/netns/ID)
	// and the lock that serializes the driver's changes between stockade
	// processes (StateDir/network.lock).
	StateDir string
	// HostNetNS is the path of the network namespace the driver treats as
	// the host's; empty means the process's own. Tests give each driver a
	// namespace of its own.
	HostNetNS string
}

func (c Config) netnsDir() string { return filepath.Join(c.StateDir, "netns") }
func (c Config) lockPath() string { return filepath.Join(c.StateDir, "network.lock") }

// NetNSPath is where the driver looks for the network namespace of a
// container (Check removes the ones of no running container): the
// directory StateDir/netns, the file named by the first 12 hex digits of
// the container's id. The engine passes it as Sandbox.NetNS.
func (c Config) NetNSPath(containerID string) string {
	return filepath.Join(c.netnsDir(), short(containerID, 12))
}

// Name is the driver's name in errors.
func (d *Driver) Name() string { return "linux" }

// AttachPhase is BeforeCreate: the namespace exists before runc creates
// the container, which joins it by path.
func (d *Driver) AttachPhase() network.Phase { return network.BeforeCreate }

// Spec makes the container join the network namespace at sb.NetNS.
func (d *Driver) Spec(ep *network.Endpoint, sb network.Sandbox, spec *specs.Spec) error {
	if sb.NetNS == "" {
		return fmt.Errorf("container %s: no network namespace path", sb.ContainerID)
	}
	if spec.Linux == nil {
		spec.Linux = &specs.Linux{}
	}
	for i, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			spec.Linux.Namespaces[i].Path = sb.NetNS
			return nil
		}
	}
	spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: sb.NetNS})
	return nil
}

var _ network.Driver = (*Driver)(nil)

// Forwards reports whether ep has [::1] forwarders in the monitor: ports
// published on all addresses or on ::1 (LoopbackProxies). A port
// published on one IPv4 address is the kernel's alone.
func (d *Driver) Forwards(ep *network.Endpoint) bool { return len(LoopbackProxies(ep)) > 0 }

var _ network.PortForwarder = (*Driver)(nil)
