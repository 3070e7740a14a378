package bundle

import (
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// This file holds the Linux defaults. Its name has no _linux suffix on
// purpose: it is built on every OS, the target OS being a parameter.

// DefaultCapabilities are docker's default capabilities.
var DefaultCapabilities = []string{
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_FSETID",
	"CAP_FOWNER",
	"CAP_MKNOD",
	"CAP_NET_RAW",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETFCAP",
	"CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT",
	"CAP_KILL",
	"CAP_AUDIT_WRITE",
}

// linuxMaskedPaths are runc's, plus docker's powercap (CVE-2020-8694).
var linuxMaskedPaths = []string{
	"/proc/acpi",
	"/proc/asound",
	"/proc/kcore",
	"/proc/keys",
	"/proc/latency_stats",
	"/proc/timer_list",
	"/proc/timer_stats",
	"/proc/sched_debug",
	"/sys/firmware",
	"/proc/scsi",
	"/sys/devices/virtual/tpm",
	"/sys/devices/virtual/powercap",
}

// linuxReadonlyPaths are runc's.
var linuxReadonlyPaths = []string{
	"/proc/bus",
	"/proc/fs",
	"/proc/irq",
	"/proc/sys",
	"/proc/sysrq-trigger",
}

// linuxMounts returns `runc spec`'s default mounts.
func linuxMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs",
			Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts",
			Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm",
			Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue",
			Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs",
			Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
			Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
	}
}

// linuxSpec adds the Linux sections to spec.
func linuxSpec(spec *specs.Spec, p *plan) {
	// Capabilities, no-new-privileges, seccomp and devices are set by
	// applyLinuxSecurity (security.go) once the mounts are made.
	spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}}

	ns := []specs.LinuxNamespace{{Type: specs.PIDNamespace}}
	if p.network != NetworkHost {
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	}
	ns = append(ns,
		specs.LinuxNamespace{Type: specs.IPCNamespace},
		specs.LinuxNamespace{Type: specs.UTSNamespace},
		specs.LinuxNamespace{Type: specs.MountNamespace},
		specs.LinuxNamespace{Type: specs.CgroupNamespace},
	)

	res := &specs.LinuxResources{
		// Deny all; runc adds its default devices after this rule.
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
	}
	if p.memory > 0 {
		limit := p.memory
		res.Memory = &specs.LinuxMemory{Limit: &limit}
	}
	if p.nanoCPUs > 0 {
		period := CPUPeriod
		quota := p.nanoCPUs * int64(CPUPeriod) / NanoCPUsPerCPU
		res.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	}
	if p.pids != 0 {
		limit := p.pids
		res.Pids = &specs.LinuxPids{Limit: &limit}
	}

	spec.Linux = &specs.Linux{
		Resources:     res,
		Namespaces:    ns,
		MaskedPaths:   slices.Clone(linuxMaskedPaths),
		ReadonlyPaths: slices.Clone(linuxReadonlyPaths),
	}
}
