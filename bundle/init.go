package bundle

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// InitPath is where --init's binary is mounted in a container: it runs as
// the container's first process, with the command after "--".
const InitPath = "/sbin/stockade-init"

// applyInit makes the host file hostPath (Options.Init) the container's
// first process: mounted read-only at InitPath (a bind mount on Linux,
// nullfs on FreeBSD), with the command as its arguments after "--". An
// empty hostPath changes nothing.
func applyInit(spec *specs.Spec, hostPath, goos string) {
	if hostPath == "" || spec.Process == nil {
		return
	}
	spec.Process.Args = append([]string{InitPath, "--"}, spec.Process.Args...)
	m := specs.Mount{Destination: InitPath, Source: hostPath, Type: "bind", Options: []string{"bind", "ro", "nosuid", "nodev"}}
	if goos == "freebsd" {
		m = specs.Mount{Destination: InitPath, Source: hostPath, Type: "nullfs", Options: []string{"ro"}}
	}
	spec.Mounts = append(spec.Mounts, m)
}
