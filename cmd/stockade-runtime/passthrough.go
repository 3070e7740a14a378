package main

import (
	"path/filepath"
	"strconv"
	"strings"
)

// passThroughCommands are the commands that are runc's own with the
// arguments translated: on Linux, stockade-runtime becomes runc for them
// (passThrough, then exec) instead of running it as a child.
var passThroughCommands = map[string]bool{"start": true, "state": true, "pause": true, "resume": true, "kill": true, "delete": true}

// passThrough returns the runc command line (without the program) that
// does what args (without the program name) ask, and the container's id,
// when that is a pass-through command (passThroughCommands, kill without
// runj's --pid) whose flags all parse; ok is false otherwise (then the
// full command line runs it and reports what is wrong). The global flags
// are read as the full command line reads them (globalFlags.flagSet). The
// translation is the one the runc runtime makes: runc's state under
// <--root>/runc, --log and its format passed on, signals by number,
// --debug for the debug level.
func passThrough(args []string, lookupEnv func(string) (string, bool)) (g globalFlags, id string, argv []string, ok bool) {
	fs := g.flagSet("linux", lookupEnv)
	if err := parseFlags(fs, args); err != nil || g.help || g.version || fs.NArg() == 0 {
		return g, "", nil, false
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	if !passThroughCommands[cmd] {
		return g, "", nil, false
	}
	switch g.logFormat {
	case "text", "json":
	default:
		return g, "", nil, false
	}
	switch g.logLevel {
	case "debug", "info", "warn", "error":
	default:
		return g, "", nil, false
	}
	for _, a := range rest {
		if a == "-h" || a == "--help" || a == "-help" {
			return g, "", nil, false
		}
	}
	inv, err := parseInvocation(cmd, rest)
	if err != nil || !validID(inv.ID) {
		return g, "", nil, false
	}
	argv = []string{"--root", runcRoot(g.root)}
	if g.log != "" {
		argv = append(argv, "--log", g.log, "--log-format", g.logFormat)
	} else if g.logFormat == "json" {
		argv = append(argv, "--log-format", "json")
	}
	if g.debug || g.logLevel == "debug" {
		argv = append(argv, "--debug")
	}
	argv = append(argv, cmd)
	switch cmd {
	case "kill":
		if inv.Pid != 0 {
			return g, "", nil, false
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
	return g, inv.ID, argv, true
}

// validID tells whether id can name a container directory under runc's
// root: not empty, no path separator, not . or ..
func validID(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.ContainsAny(id, "/\x00")
}

// runcRoot is runc's --root under stockade-runtime's (as backend's runc
// and crun rows have it).
func runcRoot(root string) string { return filepath.Join(root, "runc") }
