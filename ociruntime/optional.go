package ociruntime

import "context"

// Pauser is a Runtime that can freeze and thaw every process of a
// container (runc's pause and resume, through the cgroup freezer). The
// engine uses it when the runtime has it; otherwise it stops and
// continues the container's processes with SIGSTOP and SIGCONT.
type Pauser interface {
	// Pause freezes every process of the running container id.
	Pause(ctx context.Context, id string) error
	// Resume thaws the processes of the paused container id.
	Resume(ctx context.Context, id string) error
}

// Runner is a Runtime that can create and start a container in one call
// (runc's `run --detach`): one runtime process where Create and Start
// take two. The engine uses it when nothing has to happen between the
// two (no hook needs the created process).
type Runner interface {
	// Run creates the container id from a bundle, as Create does, and
	// starts its process; it returns once the process runs. opts.PidFile
	// receives the process's pid.
	Run(ctx context.Context, id string, opts CreateOpts) error
}

// ForegroundRunner is a Runtime whose own process can stay with the
// container for its whole life (runc's `run` without --detach): one
// runtime process creates and starts the container, waits for its process,
// ends with its exit status (128+n for signal n) and deletes the container
// itself. That spares the runtime process a Delete would start after the
// exit, at the cost of the runtime's process staying in memory while the
// container runs. The engine uses it for a foreground run (a client
// attached from the start) when no hook needs the created process.
type ForegroundRunner interface {
	// RunForeground starts the runtime's process for id, as Run does,
	// and returns once the container's process runs (its pid in
	// opts.PidFile) with the pid of the runtime's process, a child of
	// the caller, which the caller must wait for: its exit status is the
	// container's. It returns an error wrapping errors.ErrUnsupported
	// when this runtime cannot (the caller then uses Run).
	RunForeground(ctx context.Context, id string, opts CreateOpts) (runtimePid int, err error)
	// Holds reports whether the runtime still keeps state for id. After
	// its foreground process ended normally it keeps none; a runtime
	// process that was killed may have left some for Delete.
	Holds(id string) bool
}
