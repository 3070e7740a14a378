package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"syscall"

	"github.com/stockade/stockade/ociruntime"
)

// invocation is one container command, parsed from either dialect:
//
//	runj:  create ID BUNDLE, kill ID [SIG], ext exec ID -p F, flags anywhere
//	runc:  create --bundle B ID, kill [--all] ID [SIG], exec --process F ID
//
// Flags may come before, between or after the arguments (runj's cobra
// allows that, runc's flags come first); "--" ends them. For exec without
// --process, everything from the command on is the command's own.
type invocation struct {
	Command string // create, start, state, kill, delete, exec or list
	ID      string

	// create and exec
	PidFile       string
	ConsoleSocket string
	PreserveFDs   int

	// create
	Bundle string

	// kill
	All    bool
	Signal syscall.Signal
	Pid    int // runj's --pid: signal this process of the container (an exec) only

	// delete
	Force bool

	// exec
	Process string   // --process: the process.json file
	Args    []string // without --process: the command and its arguments
	Env     []string // --env, added to the process's environment
	Cwd     string   // --cwd, replacing the process's working directory
	Detach  bool
	TTY     bool

	// list
	Format string // table or json
	Quiet  bool
}

// commandDoc describes a container command for the help texts.
type commandDoc struct {
	name     string
	usage    string // one line
	synopsis string // the arguments
	flags    string // one flag a line
}

// commandDocs lists the container commands in the order help shows them.
var commandDocs = []commandDoc{
	{"create", "create a container from a bundle (its process waits for start)",
		"[--bundle DIR | BUNDLE] [--pid-file F] [--console-socket S] [--preserve-fds N] ID  (runj: create ID BUNDLE)",
		`--bundle DIR, -b DIR   the bundle directory (default: the current directory)
--pid-file F           write the container process's pid to F
--console-socket S     AF_UNIX socket receiving the pseudo-terminal master
--preserve-fds N       pass N file descriptors, from 3 on, to the process
--no-pivot, --no-new-keyring   accepted for runc compatibility, ignored`},
	{"start", "run the user program of a created container", "ID", ""},
	{"state", "print the container's state as OCI state JSON", "ID", ""},
	{"kill", "send a signal (default SIGTERM) to the container's process", "[--all] ID [SIGNAL]",
		`--all, -a   signal every process of the container
--pid N     signal only process N of the container (runj's shim, for execs)
SIGNAL is a name with or without SIG (TERM, SIGKILL) or a number`},
	{"pause", "freeze every process of a running container (runc's cgroup freezer; not for jails)", "ID", ""},
	{"resume", "thaw the processes of a paused container", "ID", ""},
	{"delete", "delete a container (a running one only with --force)", "[--force] ID",
		`--force, -f   kill the container first if it is still running`},
	{"exec", "run another process in a running container (also: ext exec, extension exec)",
		"--process F [--detach] [--tty] [--console-socket S] [--pid-file F] ID  |  [flags] ID COMMAND [ARG...]",
		`--process F, -p F     the process, as runtime-spec process JSON
--detach, -d          return once the process started (else: exit with its status)
--tty, -t             give the process a pseudo-terminal
--console-socket S    AF_UNIX socket receiving the pseudo-terminal master
--pid-file F          write the process's pid to F
--preserve-fds N      pass N file descriptors, from 3 on, to the process
--env K=V, -e K=V     add to the environment (repeatable)
--cwd DIR             the working directory`},
	{"list", "list the containers", "[--format table|json] [--quiet]",
		`--format F, -f F   table (default) or json
--quiet, -q        only the ids`},
}

// doc returns the description of a container command.
func doc(name string) commandDoc {
	for _, d := range commandDocs {
		if d.name == name {
			return d
		}
	}
	return commandDoc{name: name}
}

// helpText is what `COMMAND --help` prints.
func helpText(name string) string {
	d := doc(name)
	s := fmt.Sprintf("Usage: stockade-runtime [global flags] %s %s\n\n%s\n", d.name, d.synopsis, d.usage)
	if d.flags != "" {
		s += "\n" + d.flags + "\n"
	}
	return s
}

// stringList is a repeatable string flag.
type stringList struct{ list *[]string }

func (s stringList) String() string {
	if s.list == nil {
		return ""
	}
	return strings.Join(*s.list, ",")
}

func (s stringList) Set(v string) error {
	*s.list = append(*s.list, v)
	return nil
}

// flags returns the flag set of the command, bound to inv. Every flag that
// runc or runj spells with one letter has that alias too.
func (inv *invocation) flags() *flag.FlagSet {
	fs := flag.NewFlagSet(inv.Command, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var ignored bool
	str := func(p *string, names ...string) {
		for _, n := range names {
			fs.StringVar(p, n, *p, "")
		}
	}
	boolean := func(p *bool, names ...string) {
		for _, n := range names {
			fs.BoolVar(p, n, false, "")
		}
	}
	switch inv.Command {
	case "create":
		str(&inv.Bundle, "bundle", "b")
		str(&inv.PidFile, "pid-file")
		str(&inv.ConsoleSocket, "console-socket")
		fs.IntVar(&inv.PreserveFDs, "preserve-fds", 0, "")
		boolean(&ignored, "no-pivot", "no-new-keyring")
	case "kill":
		boolean(&inv.All, "all", "a")
		fs.IntVar(&inv.Pid, "pid", 0, "")
	case "delete":
		boolean(&inv.Force, "force", "f")
	case "exec":
		str(&inv.Process, "process", "p")
		str(&inv.PidFile, "pid-file")
		str(&inv.ConsoleSocket, "console-socket")
		str(&inv.Cwd, "cwd")
		fs.IntVar(&inv.PreserveFDs, "preserve-fds", 0, "")
		boolean(&inv.Detach, "detach", "d")
		boolean(&inv.TTY, "tty", "t")
		for _, n := range []string{"env", "e"} {
			fs.Var(stringList{&inv.Env}, n, "")
		}
	case "list":
		inv.Format = "table"
		str(&inv.Format, "format", "f")
		boolean(&inv.Quiet, "quiet", "q")
	}
	return fs
}

// parseInvocation parses the arguments of a container command (those after
// its name). It returns flag.ErrHelp for -h or --help.
func parseInvocation(command string, args []string) (*invocation, error) {
	inv := &invocation{Command: command}
	fs := inv.flags()
	// exec without --process: from the second argument (the command)
	// on, the arguments are the command's.
	limit := -1
	if command == "exec" {
		limit = 2
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
		if limit > 0 && len(pos) == limit && inv.Process == "" {
			pos = append(pos, args...)
			break
		}
	}
	if err := inv.setArgs(pos); err != nil {
		return nil, err
	}
	return inv, nil
}

// setArgs checks and stores the command's positional arguments.
func (inv *invocation) setArgs(pos []string) error {
	want := func(min, max int, what string) error {
		if len(pos) < min || (max >= 0 && len(pos) > max) {
			if len(pos) == 0 {
				return fmt.Errorf("missing container id (usage: %s %s)", inv.Command, what)
			}
			return fmt.Errorf("%d arguments %q, want %s (usage: %s %s)", len(pos), pos, what, inv.Command, doc(inv.Command).synopsis)
		}
		return nil
	}
	var err error
	switch inv.Command {
	case "create":
		if err := want(1, 2, "ID [BUNDLE]"); err != nil {
			return err
		}
		if len(pos) == 2 {
			if inv.Bundle != "" && inv.Bundle != pos[1] {
				return fmt.Errorf("bundle given twice: argument %q and --bundle %q", pos[1], inv.Bundle)
			}
			inv.Bundle = pos[1]
		}
	case "start", "state", "pause", "resume", "delete":
		err = want(1, 1, "ID")
	case "kill":
		if err := want(1, 2, "ID [SIGNAL]"); err != nil {
			return err
		}
		inv.Signal = syscall.SIGTERM
		if len(pos) == 2 {
			if inv.Signal, err = ociruntime.ParseSignal(pos[1]); err != nil {
				return err
			}
		}
	case "exec":
		if inv.Process != "" {
			err = want(1, 1, "ID (the command is in --process)")
		} else {
			err = want(2, -1, "ID COMMAND [ARG...], or --process F ID")
			if err == nil {
				inv.Args = pos[1:]
			}
		}
	case "list":
		if len(pos) > 0 {
			return fmt.Errorf("unexpected arguments %q", pos)
		}
		if inv.Format != "table" && inv.Format != "json" {
			return fmt.Errorf("--format %q is not one of table, json", inv.Format)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if inv.PreserveFDs < 0 {
		return fmt.Errorf("--preserve-fds %d is negative", inv.PreserveFDs)
	}
	if len(pos) > 0 {
		inv.ID = pos[0]
	}
	if inv.ID == "" {
		return errors.New("empty container id")
	}
	return nil
}
