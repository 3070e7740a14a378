package main

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// The command reference of docs/CLI.md is made from the commands' own
// --help texts (names, aliases, arguments, usage, flags), so the two
// cannot disagree: TestCLIReference fails, naming what is missing or
// stale, when the file is not what the code says, and
//
//	go test ./cmd/stockade -run TestCLIReference -update
//
// rewrites it.
var update = flag.Bool("update", false, "rewrite the command reference of docs/CLI.md")

const (
	cliDoc        = "../../docs/CLI.md"
	referenceHead = "<!-- BEGIN command reference: generated from --help by `go test ./cmd/stockade -run TestCLIReference -update`; do not edit -->"
	referenceTail = "<!-- END command reference -->"
)

// placeholderRE finds urfave/cli's placeholder in a usage text: the
// first word in back quotes.
var placeholderRE = regexp.MustCompile("`([^`]*)`")

// flagDoc reads what the references show of a visible flag: its names,
// the placeholder of its value ("" for a boolean) and its usage, with
// "(repeatable)" added for a slice flag.
func flagDoc(f cli.Flag) (names []string, placeholder, usage string, ok bool) {
	if v, isV := f.(cli.VisibleFlag); isV && !v.IsVisible() {
		return nil, "", "", false
	}
	d, isDoc := f.(cli.DocGenerationFlag)
	if !isDoc {
		return nil, "", "", false
	}
	usage = d.GetUsage()
	if m := placeholderRE.FindStringSubmatch(usage); m != nil {
		placeholder = m[1]
		usage = strings.Replace(usage, m[0], m[1], 1)
	}
	if d.TakesValue() && placeholder == "" {
		placeholder = "VALUE"
	}
	if s, isSlice := f.(cli.DocGenerationSliceFlag); isSlice && s.IsSliceFlag() && !strings.Contains(usage, "repeatable") {
		usage += " (repeatable)"
	}
	return f.Names(), placeholder, usage, true
}

// flagRef renders one flag as its row of the reference: its names with
// their dashes, the placeholder of its value, and its usage.
func flagRef(f cli.Flag) (names, usage string, ok bool) {
	ns, placeholder, usage, ok := flagDoc(f)
	if !ok {
		return "", "", false
	}
	var parts []string
	for _, n := range ns {
		dash := "--"
		if len(n) == 1 {
			dash = "-"
		}
		if placeholder != "" {
			parts = append(parts, "`"+dash+n+" "+placeholder+"`")
		} else {
			parts = append(parts, "`"+dash+n+"`")
		}
	}
	return strings.Join(parts, ", "), usage, true
}

// cell escapes a table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}

// writeFlags writes the flag table of a command, nothing when it has none.
func writeFlags(b *strings.Builder, flags []cli.Flag) {
	var rows []string
	for _, f := range flags {
		if names, usage, ok := flagRef(f); ok {
			rows = append(rows, "| "+names+" | "+cell(usage)+" |")
		}
	}
	if len(rows) == 0 {
		return
	}
	b.WriteString("\n| flag | what it does |\n| --- | --- |\n")
	for _, r := range rows {
		b.WriteString(r + "\n")
	}
}

// writeCommand writes the reference of cmd and its subcommands.
func writeCommand(b *strings.Builder, parent string, cmd *cli.Command) {
	if cmd.Hidden {
		return
	}
	path := strings.TrimSpace(parent + " " + cmd.Name)
	head := "stockade " + path
	if cmd.ArgsUsage != "" {
		head += " " + cmd.ArgsUsage
	}
	fmt.Fprintf(b, "\n### `%s`\n\n%s", head, cmd.Usage)
	if len(cmd.Aliases) > 0 {
		fmt.Fprintf(b, " (also `%s`)", strings.Join(cmd.Aliases, "`, `"))
	}
	b.WriteString("\n")
	if len(cmd.Subcommands) > 0 {
		var subs []string
		for _, s := range cmd.Subcommands {
			if !s.Hidden {
				subs = append(subs, "`"+s.Name+"`")
			}
		}
		fmt.Fprintf(b, "\nSubcommands: %s.\n", strings.Join(subs, ", "))
	}
	writeFlags(b, cmd.Flags)
	for _, s := range cmd.Subcommands {
		writeCommand(b, path, s)
	}
}

// cliReference renders the reference of the whole command line.
func cliReference() string {
	var b strings.Builder
	b.WriteString(referenceHead + "\n\n## stockade command reference\n\nEvery command and flag, as `--help` describes them.\n\n### Global flags\n")
	writeFlags(&b, append(globalFlags(),
		&cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help (of a command, after it)"},
		&cli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print the version"}))
	for _, cmd := range (&app{}).commands() {
		writeCommand(&b, "", cmd)
	}
	b.WriteString("\n" + referenceTail + "\n")
	return b.String()
}

// TestCLIReference checks that docs/CLI.md holds the reference of every
// command and flag as --help describes them.
func TestCLIReference(t *testing.T) {
	data, err := os.ReadFile(cliDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	want := cliReference()
	start, end := strings.Index(doc, referenceHead), strings.Index(doc, referenceTail)
	if start < 0 || end < start {
		if *update {
			doc = strings.TrimRight(doc, "\n") + "\n\n" + want
			if err := os.WriteFile(cliDoc, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Fatalf("docs/CLI.md has no command reference (between %q and %q); run go test ./cmd/stockade -run TestCLIReference -update", referenceHead, referenceTail)
	}
	got := doc[start : end+len(referenceTail)+1]
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(cliDoc, []byte(doc[:start]+want+doc[end+len(referenceTail)+1:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	// Name what differs: each command heading and flag row on one side
	// only, under the command it belongs to.
	t.Errorf("docs/CLI.md's command reference disagrees with --help; run go test ./cmd/stockade -run TestCLIReference -update\n%s", referenceDiff(got, want))
}

// lineDiff lists the lines of want that got lacks (after missing) and
// the lines of got that want lacks (after stale).
func lineDiff(got, want []string, missing, stale string) []string {
	var out []string
	for _, l := range want {
		if !slices.Contains(got, l) {
			out = append(out, missing+l)
		}
	}
	for _, l := range got {
		if !slices.Contains(want, l) {
			out = append(out, stale+l)
		}
	}
	return out
}

// referenceDiff lists the lines of want missing from got and the lines of
// got that want no longer has, each with the command it belongs to.
func referenceDiff(got, want string) string {
	// sections keys each line by the command heading above it.
	sections := func(text string) []string {
		cmd, out := "global flags", []string{}
		for _, l := range strings.Split(text, "\n") {
			if strings.HasPrefix(l, "### ") {
				cmd = strings.TrimPrefix(l, "### ")
			}
			if l != "" {
				out = append(out, cmd+": "+l)
			}
		}
		return out
	}
	out := lineDiff(sections(got), sections(want), "  missing in ", "  stale in ")
	if len(out) == 0 {
		out = append(out, "  (the same lines, in another order)")
	}
	return strings.Join(out, "\n")
}

// TestCLIReferenceNamesEveryFlag checks the generated reference itself:
// every visible command and every name and alias of its flags appear.
func TestCLIReferenceNamesEveryFlag(t *testing.T) {
	ref := cliReference()
	var walk func(parent string, cmds []*cli.Command)
	walk = func(parent string, cmds []*cli.Command) {
		for _, cmd := range cmds {
			if cmd.Hidden {
				continue
			}
			path := strings.TrimSpace(parent + " " + cmd.Name)
			i := strings.Index(ref, "### `stockade "+path+"`")
			if i < 0 {
				i = strings.Index(ref, "### `stockade "+path+" ")
			}
			if i < 0 {
				t.Errorf("command %q missing", path)
				continue
			}
			section := ref[i:]
			if j := strings.Index(section[4:], "\n### "); j >= 0 {
				section = section[:j+4]
			}
			for _, f := range cmd.Flags {
				for _, n := range f.Names() {
					dash := "--"
					if len(n) == 1 {
						dash = "-"
					}
					if !strings.Contains(section, "`"+dash+n+"`") && !strings.Contains(section, "`"+dash+n+" ") {
						t.Errorf("%s: flag %s%s missing", path, dash, n)
					}
				}
			}
			walk(path, cmd.Subcommands)
		}
	}
	walk("", (&app{}).commands())
}
