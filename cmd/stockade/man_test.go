package main

import (
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/config"
)

// The manual page stockade(8) is made from the command tree, as the
// reference of docs/CLI.md is: TestManPage fails when docs/man/stockade.8
// is not what the code says, and
//
//	go test ./cmd/stockade -run TestManPage -update
//
// rewrites it. stockade.toml(5) is written by hand and checked against
// the configuration's keys; every page must pass mandoc -Tlint.

const (
	manDir  = "../../docs/man"
	manPage = manDir + "/stockade.8"
	// manDate is the page's date: the day its text last changed by hand.
	manDate = "December 5, 2026"
)

// roffText escapes free text for a roff text line.
func roffText(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// roffArg quotes one macro argument.
func roffArg(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, `"`, `\(dq`)
	if strings.ContainsAny(s, " \t") || s == "" || strings.ContainsAny(s[:1], ".|") {
		return `"` + s + `"`
	}
	return s
}

// manFlags writes a command's visible flags as a tagged list.
func manFlags(b *strings.Builder, flags []cli.Flag) {
	var items []string
	for _, f := range flags {
		ns, placeholder, usage, ok := flagDoc(f)
		if !ok {
			continue
		}
		var names []string
		for _, n := range ns {
			dash := "-"
			if len(n) == 1 {
				dash = ""
			}
			name := "Fl " + dash + n
			if placeholder != "" {
				name += " Ar " + roffArg(placeholder)
			}
			names = append(names, name)
		}
		items = append(items, ".It "+strings.Join(names, " , ")+"\n"+roffText(usage)+"\n")
	}
	if len(items) == 0 {
		return
	}
	b.WriteString(".Bl -tag -width Ds -compact\n")
	for _, it := range items {
		b.WriteString(it)
	}
	b.WriteString(".El\n")
}

// manCommand writes cmd and its subcommands as items of the COMMANDS list.
func manCommand(b *strings.Builder, parent string, cmd *cli.Command) {
	if cmd.Hidden {
		return
	}
	path := strings.TrimSpace(parent + " " + cmd.Name)
	b.WriteString(".It Cm " + path)
	for _, w := range strings.Fields(cmd.ArgsUsage) {
		b.WriteString(" Ar " + roffArg(w))
	}
	b.WriteString("\n" + roffText(cmd.Usage))
	if len(cmd.Aliases) > 0 {
		b.WriteString(" (also " + strings.Join(cmd.Aliases, ", ") + ")")
	}
	b.WriteString(".\n")
	if len(cmd.Subcommands) == 0 {
		manFlags(b, cmd.Flags)
	}
	for _, s := range cmd.Subcommands {
		manCommand(b, path, s)
	}
}

// manPageText renders stockade(8).
func manPageText() string {
	var b strings.Builder
	fmt.Fprintf(&b, `.\" Generated from the command tree by
.\" go test ./cmd/stockade -run TestManPage -update; do not edit.
.Dd %s
.Dt STOCKADE 8
.Os
.Sh NAME
.Nm stockade
.Nd run OCI containers in FreeBSD jails
.Sh SYNOPSIS
.Nm
.Op Ar global-flags
.Ar command
.Op Ar flags
.Op Ar arguments
.Sh DESCRIPTION
.Nm
pulls OCI images from registries, keeps their layers in ZFS datasets
(or unionfs, or plain copies) and runs containers as jails through
.Xr stockade-runtime 8 .
On Linux the same commands run containers with overlayfs and runc.
Each running container has a small monitor process that holds its
output, writes its log and applies its restart policy.
.Pp
The rc.d script starts the containers whose restart policy asks for it
when the host boots
.Pq Ic stockade boot ,
after the containers they depend on
.Pq Fl -depends-on
and by boot priority
.Pq Fl -boot-priority ,
and stops them in the reverse order at shutdown.
.Sh GLOBAL FLAGS
These come before the command and override the configuration file,
.Xr stockade.toml 5 .
`, manDate)
	manFlags(&b, append(globalFlags(),
		&cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help (of a command, after it)"},
		&cli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print the version"}))
	b.WriteString(".Sh COMMANDS\n.Bl -tag -width Ds\n")
	for _, cmd := range (&app{}).commands() {
		manCommand(&b, "", cmd)
	}
	b.WriteString(`.El
.Sh ENVIRONMENT
.Bl -tag -width Ds
.It Ev STOCKADE_CONFIG
the configuration file, as
.Fl -config .
.It Ev STOCKADE_ROOT , STOCKADE_STATE , STOCKADE_SNAPSHOTTER , STOCKADE_LOG_LEVEL
and the other variables listed in
.Xr stockade.toml 5
set the key of the same name.
.El
.Sh FILES
.Bl -tag -width Ds -compact
.It Pa /usr/local/etc/stockade/stockade.toml
the configuration file
.Pq Pa /etc/stockade/stockade.toml No on Linux .
.It Pa /var/db/stockade
the data root: metadata, content store, snapshots
.Pq Pa /var/lib/stockade No on Linux .
.It Pa /var/run/stockade
run state: monitor sockets and locks
.Pq Pa /run/stockade No on Linux .
.It Pa /usr/local/etc/rc.d/stockade
the rc.d script; see
.Xr rc.conf 5
for its variables, listed at its top.
.El
.Sh EXIT STATUS
.Ex -std
.Ic run
and
.Ic start Fl a
exit with the container's status; 125 when stockade itself failed,
126 when the command cannot be executed, 127 when it does not exist.
.Sh EXAMPLES
Run a web server that comes back at boot, after its database:
.Bd -literal -offset indent
stockade run -d --name db --restart always --boot-priority 10 postgres:16
stockade run -d --name web --restart always --depends-on db -p 8080:80 nginx
sysrc stockade_enable=YES
.Ed
.Sh SEE ALSO
.Xr pf 4 ,
.Xr rc.conf 5 ,
.Xr stockade.toml 5 ,
.Xr jail 8 ,
.Xr stockade-runtime 8 ,
.Xr zfs 8
`)
	return b.String()
}

// TestManPage checks that docs/man/stockade.8 is the page the command
// tree makes (-update rewrites it).
func TestManPage(t *testing.T) {
	want := manPageText()
	if *update {
		if err := os.WriteFile(manPage, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(manPage)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		diff := lineDiff(strings.Split(string(got), "\n"), strings.Split(want, "\n"), "  missing: ", "  stale:   ")
		t.Errorf("docs/man/stockade.8 disagrees with the command tree; run go test ./cmd/stockade -run TestManPage -update\n%s", strings.Join(diff, "\n"))
	}
}

// TestManPageNamesEveryFlag checks the generated page itself: every
// visible command and every name of its flags appear.
func TestManPageNamesEveryFlag(t *testing.T) {
	page := manPageText()
	var walk func(parent string, cmds []*cli.Command)
	walk = func(parent string, cmds []*cli.Command) {
		for _, cmd := range cmds {
			if cmd.Hidden {
				continue
			}
			path := strings.TrimSpace(parent + " " + cmd.Name)
			if !strings.Contains(page, ".It Cm "+path+"\n") && !strings.Contains(page, ".It Cm "+path+" Ar ") {
				t.Errorf("command %q missing", path)
			}
			for _, f := range cmd.Flags {
				for _, n := range f.Names() {
					if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
						continue
					}
					if !strings.Contains(page, "Fl -"+n+" ") && !strings.Contains(page, "Fl -"+n+"\n") && !strings.Contains(page, "Fl "+n) {
						t.Errorf("%s: flag %s missing", path, n)
					}
				}
			}
			walk(path, cmd.Subcommands)
		}
	}
	walk("", (&app{}).commands())
}

// configKeys lists every key of stockade.toml, "table.key" for the keys
// of tables, from the toml tags of config.Config.
func configKeys() []string {
	var keys []string
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == t.PkgPath() && f.Type.Name() != "Duration" {
				walk(prefix+tag+".", f.Type)
				continue
			}
			keys = append(keys, prefix+tag)
		}
	}
	walk("", reflect.TypeOf(config.Config{}))
	sort.Strings(keys)
	return keys
}

// TestConfigManPage checks that stockade.toml(5) describes every key of
// the configuration and no key it does not have: keys are `.It Cm KEY`
// items, under `.Ss [TABLE]` for the keys of a table.
func TestConfigManPage(t *testing.T) {
	data, err := os.ReadFile(manDir + "/stockade.toml.5")
	if err != nil {
		t.Fatal(err)
	}
	table := ""
	var documented []string
	for _, l := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(l, ".Sh "):
			table = ""
		case strings.HasPrefix(l, ".Ss "):
			if name, ok := strings.CutPrefix(strings.Trim(strings.TrimPrefix(l, ".Ss "), `"`), "["); ok {
				table = strings.TrimSuffix(name, "]") + "."
			} else {
				table = ""
			}
		case strings.HasPrefix(l, ".It Cm "):
			key := strings.Fields(strings.TrimPrefix(l, ".It Cm "))[0]
			documented = append(documented, table+key)
		}
	}
	keys := configKeys()
	for _, k := range keys {
		if !slices.Contains(documented, k) {
			t.Errorf("stockade.toml(5) does not describe %s", k)
		}
	}
	for _, k := range documented {
		if !slices.Contains(keys, k) {
			t.Errorf("stockade.toml(5) describes %s, which the configuration does not have", k)
		}
	}
	for env, key := range config.Env {
		if !strings.Contains(string(data), ".It Ev "+env) {
			t.Errorf("stockade.toml(5) does not list %s (sets %s)", env, key)
		}
	}
}

// TestManLint runs mandoc -Tlint on every page: no warning or error.
// Style messages are left out: they include long lines of usage text and
// pages the host's man database lacks.
func TestManLint(t *testing.T) {
	if _, err := exec.LookPath("mandoc"); err != nil {
		t.Fatal("mandoc is not installed; run test/install-deps.sh")
	}
	pages := []string{manPage, manDir + "/stockade-runtime.8", manDir + "/stockade.toml.5"}
	for _, p := range pages {
		out, err := exec.Command("mandoc", "-Tlint", "-Wwarning", p).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("mandoc -Tlint %s: %v\n%s", p, err, out)
		}
	}
	// The generated page as the code makes it now, too.
	f := t.TempDir() + "/stockade.8"
	if err := os.WriteFile(f, []byte(manPageText()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mandoc", "-Tlint", "-Wwarning", f).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("mandoc -Tlint of the generated stockade.8: %v\n%s", err, out)
	}
}
