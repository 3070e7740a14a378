// Package ociruntime defines the Runtime interface that stockade's container
// backends implement: the FreeBSD jail runtime and the Linux runc/crun
// runtime. stockade-runtime is a command line over it, and the lifecycle
// engine drives containers through it.
//
// The operations follow the OCI runtime specification's lifecycle:
// Create prepares a container from a bundle and leaves its process waiting,
// Start lets the process run, Kill signals it, and Delete releases
// everything Create made.
package ociruntime

import (
	"context"
	"errors"
	"io"
	"os"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Status is a container's state as the OCI runtime specification names it.
type Status string

// The statuses of the OCI runtime specification.
const (
	StatusCreating Status = "creating"
	StatusCreated  Status = "created"
	StatusRunning  Status = "running"
	StatusStopped  Status = "stopped"
)

// IO holds the standard streams given to a container's process. Nil
// streams are connected to /dev/null. When Terminal is set, ConsoleSocket
// names the AF_UNIX socket that receives the pseudo-terminal's master.
type IO struct {
	Stdin         io.Reader
	Stdout        io.Writer
	Stderr        io.Writer
	Terminal      bool
	ConsoleSocket string
	// ExtraFiles are passed to the process after stdio (--preserve-fds).
	ExtraFiles []*os.File
}

// CreateOpts are the options of Create.
type CreateOpts struct {
	// Bundle is the directory holding config.json and, usually, rootfs.
	Bundle string
	// PidFile, when set, receives the container process's pid.
	PidFile string
	// IO is the process's standard streams.
	IO IO
}

// ExecOpts are the options of Exec.
type ExecOpts struct {
	// Process is the process to run inside the container.
	Process *specs.Process
	// PidFile, when set, receives the new process's pid.
	PidFile string
	// Detach returns as soon as the process started; otherwise Exec waits
	// for it and returns its exit status.
	Detach bool
	// IO is the process's standard streams.
	IO IO
}

// Runtime runs OCI bundles as containers.
type Runtime interface {
	// Create creates the container id from a bundle. Its process exists
	// but does not run the user program until Start.
	Create(ctx context.Context, id string, opts CreateOpts) error
	// Start runs the user program of a created container.
	Start(ctx context.Context, id string) error
	// State returns the container's state as the runtime sees it now.
	State(ctx context.Context, id string) (specs.State, error)
	// Kill sends sig to the container's process, or to every process in the
	// container when all is set.
	Kill(ctx context.Context, id string, sig syscall.Signal, all bool) error
	// Delete releases everything Create made. A running container is
	// refused unless force is set, in which case it is killed first.
	Delete(ctx context.Context, id string, force bool) error
	// Exec runs an additional process inside a running container and, unless
	// opts.Detach, returns its exit code when it ends.
	Exec(ctx context.Context, id string, opts ExecOpts) (int, error)
	// List returns the states of all containers the runtime knows.
	List(ctx context.Context) ([]specs.State, error)
}

// Errors that runtimes wrap so callers can test them with errors.Is.
var (
	ErrNotFound   = errors.New("container not found")
	ErrExists     = errors.New("container already exists")
	ErrNotRunning = errors.New("container is not running")
	ErrRunning    = errors.New("container is running")
)
