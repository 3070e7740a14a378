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
