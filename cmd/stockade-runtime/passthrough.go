package main

import (
	"path/filepath"
	"strconv"
	"strings"
)

// passThroughCommands are the commands that are runc's own with the
// arguments translated: on Linux, stockade-runtime becomes runc for them
// (passThrough, then exec) instead of running it as a child.
var passThroughCommands = map[string]bool{"start": true, "state": true, "kill": true, "delete": true}

// globals are the global flags as passThrough reads them, without the
// command-line library (whose package initialisation alone costs more
// than a pass-through may).
type globals struct {
	root      string
	log       string
	logFormat string
	logLevel  string
	debug     bool
	runc      string
}

// parseGlobals reads the global flags of args (without the program name)
// up to the command, and returns them with the command and its arguments.
// ok is false for anything passThrough does not handle: an unknown flag,
// --help, --version, a missing value; the full command line then reports
// it.
func parseGlobals(args []string, env func(string) string) (g globals, cmd string, rest []string, ok bool) {
	g = globals{root: defaultRoot("linux"), logFormat: "text", logLevel: "info", runc: "runc"}
	if v := env("STOCKADE_RUNC"); v != "" {
		g.runc = v
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return g, a, args[i+1:], true
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		var dst *string
		switch name {
		case "root":
			dst = &g.root
		case "log":
			dst = &g.log
		case "log-format":
			dst = &g.logFormat
		case "log-level":
			dst = &g.logLevel
		case "runc":
			dst = &g.runc
		case "debug", "systemd-cgroup":
			b := true
			if hasVal {
				var err error
				if b, err = strconv.ParseBool(val); err != nil {
					return g, "", nil, false
				}
			}
			if name == "debug" {
				g.debug = b
			}
			continue
		default:
			return g, "", nil, false
		}
		if !hasVal {
			if i+1 >= len(args) {
				return g, "", nil, false
			}
			i++
			val = args[i]
		}
		*dst = val
	}
	return g, "", nil, false
}

// passThrough returns the runc command line (without the program) that
// does what args (without the program name) ask, and the container's id, when that is a
// pass-through command (passThroughCommands, kill without runj's --pid)
// whose flags all parse; ok is false otherwise. The translation is the
// one the runc runtime makes: runc's state under <--root>/runc, --log and
// its format passed on, signals by number, --debug for the debug level.
func passThrough(args []string, env func(string) string) (g globals, id string, argv []string, ok bool) {
	g, cmd, rest, ok := parseGlobals(args, env)
	if !ok || !passThroughCommands[cmd] {
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
