package bundle

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// This file holds the FreeBSD defaults. Its name has no _freebsd suffix on
// purpose: it is built on every OS, the target OS being a parameter.

// DevfsRuleset is the devfs ruleset of /dev: 4, "devfsrules_jail" of
// /etc/defaults/devfs.rules.
const DevfsRuleset = "4"

// freebsdMounts returns the default mounts of a FreeBSD jail; imageOS
// "linux" adds the Linux ABI's file systems.
func freebsdMounts(imageOS string) []specs.Mount {
	mounts := []specs.Mount{
		{Destination: "/dev", Type: "devfs", Source: "devfs", Options: []string{"ruleset=" + DevfsRuleset}},
		{Destination: "/dev/fd", Type: "fdescfs", Source: "fdescfs"},
	}
	if imageOS != "linux" {
		return mounts
	}
	// Linux programs read /dev/fd/N links as Linux's /proc/self/fd.
	mounts[1].Options = []string{"linrdlnk"}
	return append(mounts,
		specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm",
			Options: []string{"nosuid", "noexec", "mode=1777", "size=64m"}},
		specs.Mount{Destination: "/proc", Type: "linprocfs", Source: "linprocfs",
			Options: []string{"nosuid", "noexec"}},
		specs.Mount{Destination: "/sys", Type: "linsysfs", Source: "linsysfs",
			Options: []string{"nosuid", "noexec"}},
	)
}

// freebsdSpec adds the FreeBSD section to spec.
func freebsdSpec(spec *specs.Spec, p *plan) {
	enforceStatfs := 2
	jail := &specs.FreeBSDJail{
		Host:          specs.FreeBSDShareNew,
		SysVMsg:       specs.FreeBSDShareNew,
		SysVSem:       specs.FreeBSDShareNew,
		SysVShm:       specs.FreeBSDShareNew,
		EnforceStatfs: &enforceStatfs,
	}
	switch p.network {
	case NetworkHost:
		jail.Ip4, jail.Ip6 = specs.FreeBSDShareInherit, specs.FreeBSDShareInherit
	default: // NetworkNone
		jail.Ip4, jail.Ip6 = specs.FreeBSDShareDisable, specs.FreeBSDShareDisable
	}
	spec.FreeBSD = &specs.FreeBSD{Jail: jail}
}
