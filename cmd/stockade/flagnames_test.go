package main

import (
	"fmt"
	"io"
	"reflect"
	"testing"

	"github.com/urfave/cli/v2"
)

// walkFlags calls fn with every flag of cmds and their subcommands.
func walkFlags(cmds []*cli.Command, fn func(cmd string, f cli.Flag)) {
	for _, cmd := range cmds {
		for _, f := range cmd.Flags {
			fn(cmd.Name, f)
		}
		walkFlags(cmd.Subcommands, fn)
	}
}

// TestCachedFlagNames: every flag of the command tree is wrapped (but
// the two kinds urfave/cli needs as *cli.BoolFlag), and the wrapper is
// the flag to urfave/cli: the same names, help line and interfaces.
func TestCachedFlagNames(t *testing.T) {
	var plain []cli.Flag
	walkFlags((&app{}).commands(), func(_ string, f cli.Flag) { plain = append(plain, f) })
	plain = append(plain, globalFlags()...)
	ifaces := []reflect.Type{
		reflect.TypeFor[cli.DocGenerationFlag](),
		reflect.TypeFor[cli.DocGenerationSliceFlag](),
		reflect.TypeFor[cli.VisibleFlag](),
		reflect.TypeFor[cli.CategorizableFlag](),
		reflect.TypeFor[cli.RequiredFlag](),
		reflect.TypeFor[cli.ActionableFlag](),
		reflect.TypeFor[cli.Countable](),
		reflect.TypeFor[fmt.Stringer](),
	}
	wrapped := 0
	for i, w := range cacheFlagNames(plain) {
		f := plain[i]
		name := f.Names()[0]
		if w == f {
			if b, ok := f.(*cli.BoolFlag); !ok || !(b.Hidden || b.DisableDefaultText) {
				t.Errorf("--%s (%T) is not wrapped: give cachedNames its type", name, f)
			}
			continue
		}
		wrapped++
		if !reflect.DeepEqual(w.Names(), f.Names()) {
			t.Errorf("--%s: names %q, want %q", name, w.Names(), f.Names())
		}
		if w.String() != f.String() {
			t.Errorf("--%s: help line %q, want %q", name, w.String(), f.String())
		}
		for _, it := range ifaces {
			if reflect.TypeOf(w).Implements(it) != reflect.TypeOf(f).Implements(it) {
				t.Errorf("--%s: %T implements %v: %v, %T: %v", name, w, it, reflect.TypeOf(w).Implements(it), f, !reflect.TypeOf(w).Implements(it))
			}
		}
	}
	if wrapped < 100 {
		t.Errorf("%d flags wrapped, want the tree's (over 100)", wrapped)
	}
}

// TestCachedFlagsParse: values, defaults, IsSet and aliases read the
// same through wrapped flags.
func TestCachedFlagsParse(t *testing.T) {
	flags := func() []cli.Flag {
		return []cli.Flag{
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}},
			&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}},
			&cli.StringFlag{Name: "name", Value: "dflt"},
			&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}},
			&cli.IntFlag{Name: "time", Aliases: []string{"t"}, Value: 10},
			&cli.Int64Flag{Name: "big"},
			&cli.IntSliceFlag{Name: "ports"},
			&cli.DurationFlag{Name: "wait"},
		}
	}
	parse := func(fs []cli.Flag, args ...string) string {
		var got string
		app := &cli.App{Writer: io.Discard, ErrWriter: io.Discard, UseShortOptionHandling: true, Commands: []*cli.Command{{
			Name: "run", Flags: fs,
			Action: func(c *cli.Context) error {
				got = fmt.Sprint(c.Bool("detach"), c.Bool("i"), c.String("name"), c.StringSlice("e"), c.Int("time"),
					c.Int64("big"), c.IntSlice("ports"), c.Duration("wait"), c.IsSet("d"), c.IsSet("name"), c.IsSet("env"), c.Args().Slice())
				return nil
			},
		}}}
		if err := app.Run(append([]string{"x", "run"}, args...)); err != nil {
			return "error: " + err.Error()
		}
		return got
	}
	for _, args := range [][]string{
		{"img"},
		{"-di", "--name", "web", "-e", "A=1", "--env", "B=2", "-t", "3", "--big", "9", "--ports", "80", "--wait", "2s", "img", "sh"},
		{"--detach=false", "img"},
		{"--nope", "img"},
	} {
		if got, want := parse(cacheFlagNames(flags()), args...), parse(flags(), args...); got != want {
			t.Errorf("%q: wrapped flags read %s, plain %s", args, got, want)
		}
	}
}

// BenchmarkRunFlagsParse is urfave/cli's parse of run's flags, as they
// are and wrapped (cacheFlagNames).
func BenchmarkRunFlagsParse(b *testing.B) {
	for _, tc := range []struct {
		name  string
		flags func() []cli.Flag
	}{
		{"plain", runFlags},
		{"cached", func() []cli.Flag { return cacheFlagNames(runFlags()) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				app := &cli.App{Writer: io.Discard, ErrWriter: io.Discard, Commands: []*cli.Command{{
					Name: "run", Flags: tc.flags(), Action: func(*cli.Context) error { return nil },
				}}}
				if err := app.Run([]string{"stockade", "run", "--network", "none", "img"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
