//go:build !linux

package bundle

import (
	"errors"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// errLinuxOnly is returned when a Linux container's seccomp profile or
// devices are asked for on another OS: moby's profiles library builds
// them for the running kernel and architecture only, and devices are the
// host's.
var errLinuxOnly = errors.New("a Linux container's seccomp profile and devices can only be made on Linux")

func defaultSeccomp(*specs.Spec) (*specs.LinuxSeccomp, error) { return nil, errLinuxOnly }

func convertSeccomp([]byte, *specs.Spec) (*specs.LinuxSeccomp, error) { return nil, errLinuxOnly }

func lookupDevice(r DeviceRequest) ([]specs.LinuxDevice, error) {
	return nil, optErr("--device", r.Raw, "%v", errLinuxOnly)
}

func hostDevices() ([]specs.LinuxDevice, error) { return nil, errLinuxOnly }

func boundingSet() ([]string, error) { return nil, errLinuxOnly }
