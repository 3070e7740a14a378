//go:build !(linux || freebsd || darwin || netbsd || openbsd || dragonfly)

package flock

func held(path string) (bool, error) { return false, unsupported() }
