package main

import "github.com/urfave/cli/v2"

// urfave/cli v2 computes a flag's names (Names: a regular expression per
// name and alias) each time it looks a flag up, and every command's parse
// looks each of its flags up by walking the command's flags in order
// (runFlagActions calls IsSet for every flag): the parse is quadratic in
// the number of flags. run has over a hundred, and that was a millisecond
// or more of every `run`, before its monitor could be started.
//
// cacheFlagNames wraps each flag so that Names returns the names computed
// once, at its first call (a parse is one goroutine's). The wrappers embed the flag: every other method, and so every
// interface urfave/cli asks a flag for, is the flag's own, and setting
// it sets the embedded flag. urfave/cli asks for a concrete type in two
// places only, both for a *cli.BoolFlag (the default text of one with
// DisableDefaultText, the completion of a hidden one): such flags stay
// as they are.
func cacheFlagNames(flags []cli.Flag) []cli.Flag {
	out := make([]cli.Flag, len(flags))
	for i, f := range flags {
		out[i] = cachedNames(f)
	}
	return out
}

// cacheCommandFlagNames applies cacheFlagNames to cmds and their
// subcommands.
func cacheCommandFlagNames(cmds []*cli.Command) {
	for _, cmd := range cmds {
		cmd.Flags = cacheFlagNames(cmd.Flags)
		cacheCommandFlagNames(cmd.Subcommands)
	}
}

func cachedNames(f cli.Flag) cli.Flag {
	switch f := f.(type) {
	case *cli.BoolFlag:
		if f.Hidden || f.DisableDefaultText {
			return f
		}
		return &boolFlag{BoolFlag: f}
	case *cli.StringFlag:
		return &stringFlag{StringFlag: f}
	case *cli.StringSliceFlag:
		return &stringSliceFlag{StringSliceFlag: f}
	case *cli.IntFlag:
		return &intFlag{IntFlag: f}
	case *cli.Int64Flag:
		return &int64Flag{Int64Flag: f}
	case *cli.IntSliceFlag:
		return &intSliceFlag{IntSliceFlag: f}
	case *cli.DurationFlag:
		return &durationFlag{DurationFlag: f}
	}
	return f
}

// names is a flag's names, computed at the first call of get.
type names []string

func (n *names) get(compute func() []string) []string {
	if *n == nil {
		*n = compute()
	}
	return *n
}

// The wrappers: a flag of urfave/cli's and its names (cachedNames).
type (
	boolFlag struct {
		*cli.BoolFlag
		names
	}
	stringFlag struct {
		*cli.StringFlag
		names
	}
	stringSliceFlag struct {
		*cli.StringSliceFlag
		names
	}
	intFlag struct {
		*cli.IntFlag
		names
	}
	int64Flag struct {
		*cli.Int64Flag
		names
	}
	intSliceFlag struct {
		*cli.IntSliceFlag
		names
	}
	durationFlag struct {
		*cli.DurationFlag
		names
	}
)

func (f *boolFlag) Names() []string        { return f.get(f.BoolFlag.Names) }
func (f *stringFlag) Names() []string      { return f.get(f.StringFlag.Names) }
func (f *stringSliceFlag) Names() []string { return f.get(f.StringSliceFlag.Names) }
func (f *intFlag) Names() []string         { return f.get(f.IntFlag.Names) }
func (f *int64Flag) Names() []string       { return f.get(f.Int64Flag.Names) }
func (f *intSliceFlag) Names() []string    { return f.get(f.IntSliceFlag.Names) }
func (f *durationFlag) Names() []string    { return f.get(f.DurationFlag.Names) }
