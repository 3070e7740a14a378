package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/stockade/stockade/version"
)

// The command line is parsed here with the standard library's flag
// package: a command-line library's package initialisation (its help
// templates, markdown renderer, ...) alone costs more than the whole
// budget of a pass-through command (passthrough.go), and every command
// of this short-lived program pays for what it links. The commands,
// aliases, flags, help texts and errors are those the program had with
// urfave/cli: global flags first (--help and --version win over
// everything after them), then the command, its flags and arguments.

// globalFlags are the flags before the command.
type globalFlags struct {
	root      string
	log       string
	logFormat string
	logLevel  string
	runc      string // the runc-compatible binary driven on Linux
	debug     bool
	help      bool
	version   bool
}

// flagSet resets g to the defaults for goos (STOCKADE_RUNC, read with
// lookupEnv, is --runc's) and returns the global flag set bound to it.
func (g *globalFlags) flagSet(goos string, lookupEnv func(string) (string, bool)) *flag.FlagSet {
	*g = globalFlags{root: defaultRoot(goos), logFormat: "text", logLevel: "info", runc: "runc"}
	if v, ok := lookupEnv("STOCKADE_RUNC"); ok {
		g.runc = v
	}
	fs := flag.NewFlagSet("stockade-runtime", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&g.root, "root", g.root, "")
	fs.StringVar(&g.log, "log", "", "")
	fs.StringVar(&g.logFormat, "log-format", g.logFormat, "")
	fs.StringVar(&g.logLevel, "log-level", g.logLevel, "")
	fs.StringVar(&g.runc, "runc", g.runc, "")
	fs.BoolVar(&g.debug, "debug", false, "")
	var systemdCgroup bool // accepted for runc compatibility
	fs.BoolVar(&systemdCgroup, "systemd-cgroup", false, "")
	addHelpFlag(fs, &g.help)
	fs.BoolVar(&g.version, "version", false, "")
	fs.BoolVar(&g.version, "v", false, "")
	return fs
}

// addHelpFlag defines --help and -h on fs.
func addHelpFlag(fs *flag.FlagSet, help *bool) {
	fs.BoolVar(help, "help", false, "")
	fs.BoolVar(help, "h", false, "")
}

// helpFlagSet is the flag set of a command whose only flag is --help:
// features, extension and help.
func helpFlagSet(name string, help *bool) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addHelpFlag(fs, help)
	return fs
}

// parseFlags parses args with fs, stopping at the first argument that is
// not a flag. A cluster of one-letter flags (-vh) that fs does not define
// as a whole is read as those flags (-v -h) when fs defines each of them.
func parseFlags(fs *flag.FlagSet, args []string) error {
	for {
		err := fs.Parse(args)
		if err == nil {
			return nil
		}
		name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -")
		if !ok {
			return err
		}
		split := false
		for i, a := range args {
			if strings.TrimLeft(a, "-") != name {
				continue
			}
			short := splitShortFlags(fs, a)
			if short == nil {
				return err
			}
			// The flags before a parsed already; only the rest again.
			args = append(short, args[i+1:]...)
			split = true
			break
		}
		if !split {
			return err
		}
	}
}

// splitShortFlags returns -abc as -a -b -c when fs defines a, b and c,
// and nil otherwise.
func splitShortFlags(fs *flag.FlagSet, arg string) []string {
	if !strings.HasPrefix(arg, "-") || strings.HasPrefix(arg, "--") || len(arg) <= 2 {
		return nil
	}
	var short []string
	for _, c := range arg[1:] {
		if fs.Lookup(string(c)) == nil {
			return nil
		}
		short = append(short, "-"+string(c))
	}
	return short
}

// errUnknownCommand is the error of a command name that is none of the
// commands.
func errUnknownCommand(name string) error {
	return fmt.Errorf("unknown command %q (see 'stockade-runtime --help')", name)
}

// isContainerCommand tells whether name is one of the container
// commands (commandDocs).
func isContainerCommand(name string) bool {
	for _, d := range commandDocs {
		if d.name == name {
			return true
		}
	}
	return false
}

// main runs the command line args (without the program name).
func (r *rt) main(ctx context.Context, args []string, goos string, lookupEnv func(string) (string, bool)) error {
	var g globalFlags
	fs := g.flagSet(goos, lookupEnv)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	if g.help {
		return r.help(rest, goos)
	}
	if g.version {
		_, err := io.WriteString(r.stdout, version.String("stockade-runtime"))
		return err
	}
	if err := r.setup(g); err != nil {
		return err
	}
	if len(rest) == 0 {
		return r.help(nil, goos)
	}
	name, rest := rest[0], rest[1:]
	switch name {
	case "help", "h":
		var help bool
		fs := helpFlagSet(name, &help)
		if err := parseFlags(fs, rest); err != nil {
			return r.helpUsageError(" ", err)
		}
		return r.help(fs.Args(), goos)
	case "features":
		var help bool
		fs := helpFlagSet(name, &help)
		if err := parseFlags(fs, rest); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if help {
			return r.help([]string{name}, goos)
		}
		return r.features()
	case "extension", "ext":
		return r.extension(ctx, rest)
	}
	if !isContainerCommand(name) {
		return errUnknownCommand(name)
	}
	return r.container(ctx, name, rest)
}

// extension runs runj's `extension` (alias `ext`) command, whose one
// subcommand is exec.
func (r *rt) extension(ctx context.Context, args []string) error {
	var help bool
	fs := helpFlagSet("extension", &help)
	if err := parseFlags(fs, args); err != nil {
		return fmt.Errorf("extension: %w", err)
	}
	rest := fs.Args()
	if help || len(rest) == 0 {
		return r.extensionHelp(rest)
	}
	switch rest[0] {
	case "exec":
		return r.container(ctx, "exec", rest[1:])
	case "help", "h":
		fs := helpFlagSet(rest[0], &help)
		if err := parseFlags(fs, rest[1:]); err != nil {
			return r.helpUsageError("stockade-runtime extension ", err)
		}
		return r.extensionHelp(fs.Args())
	}
	return errUnknownCommand(rest[0])
}

// help prints the program's help, or with a command name in args that
// command's.
func (r *rt) help(args []string, goos string) error {
	var text string
	switch {
	case len(args) == 0:
		text = appHelp(goos)
	case (args[0] == "help" || args[0] == "h") && len(args) > 1:
		return r.help(args[1:], goos) // help help state: help state
	case args[0] == "help" || args[0] == "h":
		text = helpCommandHelp(" ")
	case args[0] == "features":
		text = commandHelp("features", "print the features this runtime implements, as JSON", "stockade-runtime features [command options]", "")
	case args[0] == "extension" || args[0] == "ext":
		// The command's help, as help shows it: without its commands.
		text = "NAME:\n   stockade-runtime extension - " + extensionUsage + "\n\nUSAGE:\n   stockade-runtime extension [command options]\n\n"
	case isContainerCommand(args[0]):
		d := doc(args[0])
		text = commandHelp(d.name, d.usage, "stockade-runtime [global flags] "+d.name+" "+d.synopsis, d.flags)
	default:
		return errUnknownCommand(args[0])
	}
	_, err := io.WriteString(r.stdout, text)
	return err
}

// extensionHelp prints the extension command's help, or with a
// subcommand's name in args that subcommand's.
func (r *rt) extensionHelp(args []string) error {
	var text string
	switch {
	case len(args) == 0:
		text = "NAME:\n   stockade-runtime extension - " + extensionUsage + "\n\n" +
			"USAGE:\n   stockade-runtime extension [command options]\n\n" +
			"COMMANDS:\n   exec     " + doc("exec").usage + "\n   help, h  " + helpUsage + "\n\n" +
			"OPTIONS:\n   --help, -h  show help\n"
	case args[0] == "exec":
		d := doc("exec")
		text = commandHelp("extension exec", d.usage, "stockade-runtime [global flags] exec "+d.synopsis, d.flags)
	case args[0] == "help" || args[0] == "h":
		text = helpCommandHelp("stockade-runtime extension ")
	default:
		return errUnknownCommand(args[0])
	}
	_, err := io.WriteString(r.stdout, text)
	return err
}

const (
	appUsage       = "OCI runtime for FreeBSD jails (runj and runc compatible command line)"
	extensionUsage = "runj's extensions of the OCI commands: exec"
	helpUsage      = "Shows a list of commands or help for one command"
)

// appHelp is the program's help (--help, help, or no command).
func appHelp(goos string) string {
	var b strings.Builder
	b.WriteString("NAME:\n   stockade-runtime - " + appUsage + "\n\n")
	b.WriteString("USAGE:\n   stockade-runtime [global options] command [command options]\n\n")
	b.WriteString("VERSION:\n   " + version.String("stockade-runtime") + "\n")
	b.WriteString("COMMANDS:\n")
	row := func(names, usage string) { fmt.Fprintf(&b, "   %-16s%s\n", names, usage) }
	row("features", "print the features this runtime implements, as JSON")
	for _, d := range commandDocs {
		row(d.name, d.usage)
	}
	row("extension, ext", extensionUsage)
	row("help, h", helpUsage)
	b.WriteString("\nGLOBAL OPTIONS:\n")
	opt := func(names, usage string) { fmt.Fprintf(&b, "   %-20s%s\n", names, usage) }
	opt("--root value", fmt.Sprintf("directory for container state (default: %q)", defaultRoot(goos)))
	opt("--log value", "write logs (and the final error) to this file instead of stderr")
	opt("--log-format value", `text or json (default: "text")`)
	opt("--log-level value", `debug, info, warn or error (default: "info")`)
	opt("--debug", "same as --log-level debug (default: false)")
	opt("--runc value", `on Linux, the runtime to drive: runc, crun or a path (default: "runc") [$STOCKADE_RUNC]`)
	opt("--help, -h", "show help")
	opt("--version, -v", "print the version")
	return b.String()
}

// commandHelp is the help of one command as `help NAME` shows it:
// description holds the command's flags, one a line.
func commandHelp(name, usage, usageText, description string) string {
	var b strings.Builder
	b.WriteString("NAME:\n   stockade-runtime " + name + " - " + usage + "\n\n")
	b.WriteString("USAGE:\n   " + usageText + "\n\n")
	if description != "" {
		b.WriteString("DESCRIPTION:\n   " + strings.ReplaceAll(description, "\n", "\n   ") + "\n\n")
	}
	b.WriteString("OPTIONS:\n   --help, -h  show help\n")
	return b.String()
}

// helpCommandHelp is the help command's own help, its name after prefix
// (the program's help command has " ", as it always had).
func helpCommandHelp(prefix string) string {
	return "NAME:\n   " + prefix + "help - " + helpUsage + "\n\n" +
		"USAGE:\n   " + prefix + "help [command options] [command]\n\n" +
		"OPTIONS:\n   --help, -h  show help\n"
}

// helpUsageError returns err, a bad flag of the help command (its name
// after prefix, as in helpCommandHelp), having printed it with the help
// command's help on stdout, as the program always did.
func (r *rt) helpUsageError(prefix string, err error) error {
	io.WriteString(r.stdout, "Incorrect Usage: "+err.Error()+"\n\n"+
		"NAME:\n   "+prefix+"help - "+helpUsage+"\n\n"+
		"USAGE:\n   "+prefix+"help [command options] [command]\n\n"+
		"COMMANDS:\n   help, h  "+helpUsage+"\n\n"+
		"OPTIONS:\n   --help, -h  show help\n")
	return err
}
