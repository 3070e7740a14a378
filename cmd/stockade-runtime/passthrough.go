package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// passThroughCommands are the commands that are runc's own with the
// arguments translated: on Linux, stockade-runtime becomes runc for them
// (passThrough, then exec) instead of running it as a child.
var passThroughCommands = map[string]bool{"create": true, "exec": true, "start": true, "state": true, "pause": true, "resume": true, "kill": true, "delete": true}

// passThrough returns the runc command line (without the program) that
// does what args (without the program name) ask, and the parsed command,
// when that is a pass-through command (passThroughCommands, kill without
// runj's --pid, create without a console socket, exec of a --process file
// without a terminal or changes to the process) whose flags all parse; ok is false otherwise (then the
// full command line runs it and reports what is wrong). The global flags
// are read as the full command line reads them (globalFlags.flagSet). The
// translation is the one the runc runtime makes: runc's state under
// <--root>/runc, --log and its format passed on, signals by number,
// --debug for the debug level.
func passThrough(args []string, lookupEnv func(string) (string, bool)) (g globalFlags, inv invocation, argv []string, ok bool) {
	fs := g.flagSet("linux", lookupEnv)
	if err := parseFlags(fs, args); err != nil || g.help || g.version || fs.NArg() == 0 {
		return g, invocation{}, nil, false
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	if !passThroughCommands[cmd] {
		return g, invocation{}, nil, false
	}
	switch g.logFormat {
	case "text", "json":
	default:
		return g, invocation{}, nil, false
	}
	switch g.logLevel {
	case "debug", "info", "warn", "error":
	default:
		return g, invocation{}, nil, false
	}
	for _, a := range rest {
		if a == "-h" || a == "--help" || a == "-help" {
			return g, invocation{}, nil, false
		}
	}
	parsed, err := parseInvocation(cmd, rest)
	if err != nil || !validID(parsed.ID) {
		return g, invocation{}, nil, false
	}
	inv = *parsed
	argv = []string{"--root", runcRoot(g.root)}
	switch {
	case g.log != "":
		argv = append(argv, "--log", g.log, "--log-format", g.logFormat)
	case cmd == "create" || cmd == "exec":
		// runc prints a failed create's (or exec's) error, once and
		// plain, on the stderr it shares with the container when its log
		// is not stderr (as when stockade-runtime runs it).
		argv = append(argv, "--log", os.DevNull, "--log-format", g.logFormat)
	case g.logFormat == "json":
		argv = append(argv, "--log-format", "json")
	}
	if g.debug || g.logLevel == "debug" {
		argv = append(argv, "--debug")
	}
	argv = append(argv, cmd)
	switch cmd {
	case "create":
		// With a console socket, runc's own stdio is /dev/null (the
		// process has the terminal): left to the full command line.
		if inv.ConsoleSocket != "" {
			return g, invocation{}, nil, false
		}
		if inv.Bundle != "" {
			argv = append(argv, "--bundle", inv.Bundle)
		}
		argv = processFlags(argv, inv)
	case "exec":
		// Only a process file as it is: --env, --cwd and the command's
		// arguments change it, a terminal needs the console socket (the
		// full command line does these).
		if inv.Process == "" || inv.TTY || inv.ConsoleSocket != "" || len(inv.Env) > 0 || inv.Cwd != "" || len(inv.Args) > 0 {
			return g, invocation{}, nil, false
		}
		argv = append(argv, "--process", inv.Process)
		if inv.Detach {
			argv = append(argv, "--detach")
		}
		argv = processFlags(argv, inv)
	case "kill":
		if inv.Pid != 0 {
			return g, invocation{}, nil, false
		}
		if inv.All {
			argv = append(argv, "--all")
		}
		argv = append(argv, inv.ID, strconv.Itoa(int(inv.Signal)))
	case "delete":
		if inv.Force {
			argv = append(argv, "--force")
		}
		argv = append(argv, inv.ID)
	default:
		argv = append(argv, inv.ID)
	}
	return g, inv, argv, true
}

// processFlags appends what create and exec pass on alike: --pid-file,
// --preserve-fds, then the container's id.
func processFlags(argv []string, inv invocation) []string {
	if inv.PidFile != "" {
		argv = append(argv, "--pid-file", inv.PidFile)
	}
	if inv.PreserveFDs > 0 {
		argv = append(argv, "--preserve-fds", strconv.Itoa(inv.PreserveFDs))
	}
	return append(argv, inv.ID)
}

// validID tells whether id can name a container directory under runc's
// root: not empty, no path separator, not . or ..
func validID(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.ContainsAny(id, "/\x00")
}

// runcRoot is runc's --root under stockade-runtime's (as backend's runc
// and crun rows have it).
func runcRoot(root string) string { return filepath.Join(root, "runc") }
