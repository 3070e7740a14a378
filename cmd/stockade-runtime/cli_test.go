package main

import (
	"context"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/stockade/stockade/version"
)

// The help texts are those the program printed when urfave/cli made them;
// these are that program's outputs.
const (
	wantAppHelpLinux = `NAME:
   stockade-runtime - OCI runtime for FreeBSD jails (runj and runc compatible command line)

USAGE:
   stockade-runtime [global options] command [command options]

VERSION:
   {{version}}
COMMANDS:
   features        print the features this runtime implements, as JSON
   create          create a container from a bundle (its process waits for start)
   start           run the user program of a created container
   state           print the container's state as OCI state JSON
   kill            send a signal (default SIGTERM) to the container's process
   pause           freeze every process of a running container (runc's cgroup freezer; not for jails)
   resume          thaw the processes of a paused container
   delete          delete a container (a running one only with --force)
   exec            run another process in a running container (also: ext exec, extension exec)
   list            list the containers
   extension, ext  runj's extensions of the OCI commands: exec
   help, h         Shows a list of commands or help for one command

GLOBAL OPTIONS:
   --root value        directory for container state (default: "{{root}}")
   --log value         write logs (and the final error) to this file instead of stderr
   --log-format value  text or json (default: "text")
   --log-level value   debug, info, warn or error (default: "info")
   --debug             same as --log-level debug (default: false)
   --runc value        on Linux, the runtime to drive: runc, crun or a path (default: "runc") [$STOCKADE_RUNC]
   --help, -h          show help
   --version, -v       print the version
`
	wantStateHelp = `NAME:
   stockade-runtime state - print the container's state as OCI state JSON

USAGE:
   stockade-runtime [global flags] state ID

OPTIONS:
   --help, -h  show help
`
	wantCreateHelp = `NAME:
   stockade-runtime create - create a container from a bundle (its process waits for start)

USAGE:
   stockade-runtime [global flags] create [--bundle DIR | BUNDLE] [--pid-file F] [--console-socket S] [--preserve-fds N] ID  (runj: create ID BUNDLE)

DESCRIPTION:
   --bundle DIR, -b DIR   the bundle directory (default: the current directory)
   --pid-file F           write the container process's pid to F
   --console-socket S     AF_UNIX socket receiving the pseudo-terminal master
   --preserve-fds N       pass N file descriptors, from 3 on, to the process
   --no-pivot, --no-new-keyring   accepted for runc compatibility, ignored

OPTIONS:
   --help, -h  show help
`
	wantFeaturesHelp = `NAME:
   stockade-runtime features - print the features this runtime implements, as JSON

USAGE:
   stockade-runtime features [command options]

OPTIONS:
   --help, -h  show help
`
	wantExtHelp = `NAME:
   stockade-runtime extension - runj's extensions of the OCI commands: exec

USAGE:
   stockade-runtime extension [command options]

COMMANDS:
   exec     run another process in a running container (also: ext exec, extension exec)
   help, h  Shows a list of commands or help for one command

OPTIONS:
   --help, -h  show help
`
	wantHelpExt = `NAME:
   stockade-runtime extension - runj's extensions of the OCI commands: exec

USAGE:
   stockade-runtime extension [command options]

`
	wantExtExecHelp = `NAME:
   stockade-runtime extension exec - run another process in a running container (also: ext exec, extension exec)

USAGE:
   stockade-runtime [global flags] exec --process F [--detach] [--tty] [--console-socket S] [--pid-file F] ID  |  [flags] ID COMMAND [ARG...]

DESCRIPTION:
   --process F, -p F     the process, as runtime-spec process JSON
   --detach, -d          return once the process started (else: exit with its status)
   --tty, -t             give the process a pseudo-terminal
   --console-socket S    AF_UNIX socket receiving the pseudo-terminal master
   --pid-file F          write the process's pid to F
   --preserve-fds N      pass N file descriptors, from 3 on, to the process
   --env K=V, -e K=V     add to the environment (repeatable)
   --cwd DIR             the working directory

OPTIONS:
   --help, -h  show help
`
	wantHelpHelp = `NAME:
    help - Shows a list of commands or help for one command

USAGE:
    help [command options] [command]

OPTIONS:
   --help, -h  show help
`
	wantExtHelpHelp = `NAME:
   stockade-runtime extension help - Shows a list of commands or help for one command

USAGE:
   stockade-runtime extension help [command options] [command]

OPTIONS:
   --help, -h  show help
`
)

// A bad flag of the help command: the error on stderr, and on stdout
// "Incorrect Usage" and the help command's help.
const (
	wantHelpUsageError = `Incorrect Usage: flag provided but not defined: -bogus

NAME:
    help - Shows a list of commands or help for one command

USAGE:
    help [command options] [command]

COMMANDS:
   help, h  Shows a list of commands or help for one command

OPTIONS:
   --help, -h  show help
`
	wantExtHelpUsageError = `Incorrect Usage: flag provided but not defined: -bogus

NAME:
   stockade-runtime extension help - Shows a list of commands or help for one command

USAGE:
   stockade-runtime extension help [command options] [command]

COMMANDS:
   help, h  Shows a list of commands or help for one command

OPTIONS:
   --help, -h  show help
`
)

// appHelpFor is wantAppHelpLinux for goos.
func appHelpFor(goos string) string {
	return strings.NewReplacer("{{version}}", version.String("stockade-runtime"), "{{root}}", defaultRoot(goos)).Replace(wantAppHelpLinux)
}

// TestCommandLine runs command lines that print help or the version, or
// fail before any runtime is asked, and compares all they print.
func TestCommandLine(t *testing.T) {
	appHelp := appHelpFor("linux")
	ver := version.String("stockade-runtime")
	unknown := func(name string) string {
		return `stockade-runtime: unknown command "` + name + `" (see 'stockade-runtime --help')` + "\n"
	}
	tests := []struct {
		args      string
		wantOut   string
		wantErr   string
		wantCode  int
		runcInEnv bool
	}{
		{"", appHelp, "", 0, false},
		{"--help", appHelp, "", 0, false},
		{"-h", appHelp, "", 0, false},
		{"help", appHelp, "", 0, false},
		{"h", appHelp, "", 0, false},
		{"help -h", appHelp, "", 0, false},
		{"--root /r", appHelp, "", 0, false},
		{"--log-format xml --help", appHelp, "", 0, false}, // help before the flags' checks
		{"--help --version", appHelp, "", 0, false},        // help wins
		{"--version --help", appHelp, "", 0, false},
		{"-vh", appHelp, "", 0, false}, // one-letter flags together
		{"--help=false --version", ver, "", 0, false},
		{"--version", ver, "", 0, false},
		{"-v", ver, "", 0, false},
		{"-version", ver, "", 0, false},
		{"--version frob", ver, "", 0, false},
		{"help state", wantStateHelp, "", 0, false},
		{"h state", wantStateHelp, "", 0, false},
		{"--help state", wantStateHelp, "", 0, false},
		{"-h state", wantStateHelp, "", 0, false},
		{"help -h state", wantStateHelp, "", 0, false},
		{"help state extra", wantStateHelp, "", 0, false},
		{"help help state", wantStateHelp, "", 0, false},
		{"help create", wantCreateHelp, "", 0, false},
		{"help features", wantFeaturesHelp, "", 0, false},
		{"features -h", wantFeaturesHelp, "", 0, false},
		{"features --help", wantFeaturesHelp, "", 0, false},
		{"features -hh", wantFeaturesHelp, "", 0, false},
		{"help ext", wantHelpExt, "", 0, false},
		{"help extension", wantHelpExt, "", 0, false},
		{"ext", wantExtHelp, "", 0, false},
		{"extension", wantExtHelp, "", 0, false},
		{"ext --help", wantExtHelp, "", 0, false},
		{"ext help", wantExtHelp, "", 0, false},
		{"ext h", wantExtHelp, "", 0, false},
		{"ext help exec", wantExtExecHelp, "", 0, false},
		{"extension --help exec", wantExtExecHelp, "", 0, false},
		{"help help", wantHelpHelp, "", 0, false},
		{"ext help help", wantExtHelpHelp, "", 0, false},
		{"state --help", helpText("state"), "", 0, false},
		{"ext exec -h", helpText("exec"), "", 0, false},
		{"extension exec --help c1 true", helpText("exec"), "", 0, false},

		{"frob", "", unknown("frob"), 1, false},
		{"help frob", "", unknown("frob"), 1, false},
		{"--help frob", "", unknown("frob"), 1, false},
		{"ext frob", "", unknown("frob"), 1, false},
		{"ext help frob", "", unknown("frob"), 1, false},
		{"-- --help", "", unknown("--help"), 1, false},
		{"--bogus features", "", "stockade-runtime: flag provided but not defined: -bogus\n", 1, false},
		{"-hq", "", "stockade-runtime: flag provided but not defined: -hq\n", 1, false},
		{"features --version", "", "stockade-runtime: features: flag provided but not defined: -version\n", 1, false},
		{"ext --bogus", "", "stockade-runtime: extension: flag provided but not defined: -bogus\n", 1, false},
		{"help --bogus", wantHelpUsageError, "stockade-runtime: flag provided but not defined: -bogus\n", 1, false},
		{"ext help --bogus", wantExtHelpUsageError, "stockade-runtime: flag provided but not defined: -bogus\n", 1, false},
		{"--root", "", "stockade-runtime: flag needs an argument: -root\n", 1, false},
		{"--debug=maybe features", "", "stockade-runtime: invalid boolean value \"maybe\" for -debug: parse error\n", 1, false},
		{"--systemd-cgroup=maybe list", "", "stockade-runtime: invalid boolean value \"maybe\" for -systemd-cgroup: parse error\n", 1, false},
		{"--log-level loud features", "", "stockade-runtime: log level \"loud\" is not one of debug, info, warn, error\n", 1, false},
		{"--log-format xml frob", "", "stockade-runtime: log format \"xml\" is not one of text, json\n", 1, false},
		{"--log /nonexistent/dir/l features", "", "stockade-runtime: log file: open /nonexistent/dir/l: no such file or directory\n", 1, false},
		{"state", "", "stockade-runtime: state: missing container id (usage: state ID)\n", 1, false},
		{"ext -- exec", "", "stockade-runtime: exec: missing container id (usage: exec ID COMMAND [ARG...], or --process F ID)\n", 1, false},
		{"list --bogus", "", "stockade-runtime: list: flag provided but not defined: -bogus\n", 1, false},
		{"--runc /nonexistent/r list", "", "stockade-runtime: r list: runtime /nonexistent/r: stat /nonexistent/r: no such file or directory\n", 1, false},
		{"list", "", "stockade-runtime: ENVRUNC list: runtime /nonexistent/ENVRUNC: stat /nonexistent/ENVRUNC: no such file or directory\n", 1, true},
		{"--runc /nonexistent/r list", "", "stockade-runtime: r list: runtime /nonexistent/r: stat /nonexistent/r: no such file or directory\n", 1, true}, // the flag over the variable
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			if tt.runcInEnv {
				t.Setenv("STOCKADE_RUNC", "/nonexistent/ENVRUNC")
			}
			args := append([]string{"--root", t.TempDir()}, strings.Fields(tt.args)...)
			if tt.args == "" || strings.HasPrefix(tt.args, "--root") || strings.HasPrefix(tt.args, "-- ") {
				args = strings.Fields(tt.args)
			}
			code, out, stderr := runRT(t, args...)
			if code != tt.wantCode || out != tt.wantOut || stderr != tt.wantErr {
				t.Errorf("%q: exit %d, stdout\n%s\nstderr %q\nwant exit %d, stdout\n%s\nstderr %q", args, code, out, stderr, tt.wantCode, tt.wantOut, tt.wantErr)
			}
		})
	}
}

// On FreeBSD the help shows FreeBSD's default --root.
func TestAppHelpFreeBSD(t *testing.T) {
	var out strings.Builder
	r := &rt{stdout: &out, stderr: io.Discard}
	if err := r.main(context.Background(), []string{"--help"}, "freebsd", func(string) (string, bool) { return "", false }); err != nil {
		t.Fatal(err)
	}
	if want := appHelpFor("freebsd"); out.String() != want {
		t.Errorf("help\n%s\nwant\n%s", out.String(), want)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args     string
		wantErr  string
		wantSet  string // the flags set, in order of name
		wantArgs string
	}{
		{"-a -b x", "", "a b", "x"},
		{"-ab x", "", "a b", "x"},
		{"-ba -- -c", "", "a b", "-c"},
		{"-abc", "flag provided but not defined: -abc", "", ""},
		{"--ab", "flag provided but not defined: -ab", "", ""},
		{"-s v -ab", "", "a b s", ""},
		{"-as v", "", "a s", ""}, // s takes the next argument
		{"x -ab", "", "", "x -ab"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			fs.Bool("a", false, "")
			fs.Bool("b", false, "")
			fs.String("s", "", "")
			err := parseFlags(fs, strings.Fields(tt.args))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var set []string
			fs.Visit(func(f *flag.Flag) { set = append(set, f.Name) })
			slices.Sort(set)
			if got := strings.Join(set, " "); got != tt.wantSet {
				t.Errorf("set %q, want %q", got, tt.wantSet)
			}
			if got := strings.Join(fs.Args(), " "); got != tt.wantArgs {
				t.Errorf("args %q, want %q", got, tt.wantArgs)
			}
		})
	}
}
