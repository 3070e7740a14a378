package main

import "errors"

// errNoRuntime is what the container commands say on an operating system
// that has neither jails nor runc.
var errNoRuntime = errors.New("no container runtime on this operating system (jails on FreeBSD, runc on Linux)")
