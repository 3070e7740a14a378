// Package monitorio is what a container's monitor does with the
// container's stdio, shared by the full monitor (the engine, `stockade
// monitor`) and the small idle monitor (cmd/stockade-monitor) that takes
// over from it: the json-file log with rotation, the attach protocol's
// frames, the hub that fans output out to attach clients and feeds their
// input in, the pumps that copy the container's output, and the handover
// descriptions the two monitors pass each other across execve.
//
// It imports only the standard library and golang.org/x/sys/unix, so that
// the small monitor stays small.
package monitorio
