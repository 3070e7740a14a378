package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/bundle"
)

// initName is the name stockade runs as when --init mounted it as a
// container's first process (bundle.InitPath): then it is that init, not
// the command line.
const initName = "stockade-init"

// runInit is the minimal init of --init: it starts the command after
// "--" as its child, passes every signal it gets on to it, reaps every
// process that ends up its child (orphans of the container), and exits
// with the child's status (128+N when signal N ended it) once the child
// ends, as docker's tini does. A command that cannot be started exits
// 127 (not found) or 126 (not executable).
func runInit(args []string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintf(stderr, "%s: no command (usage: %s -- CMD [ARG...])\n", initName, bundle.InitPath)
		return 125
	}
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs)
	path, err := exec.LookPath(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "%s: exec %s: %v\n", initName, args[0], err)
		return exitForStartError(err)
	}
	child, err := os.StartProcess(path, args, &os.ProcAttr{Env: os.Environ(), Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}})
	if err != nil {
		fmt.Fprintf(stderr, "%s: exec %s: %v\n", initName, args[0], err)
		return exitForStartError(err)
	}
	pid := child.Pid
	for sig := range sigs {
		switch sig {
		case syscall.SIGCHLD:
			if code, done := reapAll(pid); done {
				return code
			}
		case syscall.SIGURG, syscall.SIGPIPE, syscall.SIGTTIN, syscall.SIGTTOU:
			// SIGURG is the Go runtime's own; the terminal ones are ours.
		default:
			if s, ok := sig.(syscall.Signal); ok {
				syscall.Kill(pid, s)
			}
		}
	}
	return 0
}

// reapAll reaps every child that ended; done is set, with its exit
// code, when one of them is pid.
func reapAll(pid int) (code int, done bool) {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || got <= 0 {
			return code, done
		}
		if got != pid {
			continue
		}
		done = true
		switch {
		case ws.Exited():
			code = ws.ExitStatus()
		case ws.Signaled():
			code = 128 + int(ws.Signal())
		}
	}
}

// exitForStartError is the exit code of a command that could not start:
// 127 when it does not exist, 126 otherwise, as shells and docker say.
func exitForStartError(err error) int {
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
		return 127
	}
	return 126
}
