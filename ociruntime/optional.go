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
