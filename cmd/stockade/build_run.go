//go:build !lean

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/build"
	"github.com/stockade/stockade/image"
)

// build is `build [flags] CONTEXT`.
func (a *app) build(c *cli.Context) error {
	asJSON := false
	switch f := c.String("format"); f {
	case "text", "":
	case "json":
		asJSON = true
	default:
		return fmt.Errorf("--format %q is not one of text, json", f)
	}
	comp, err := image.ParseCompression(c.String("compression"))
	if err != nil {
		return fmt.Errorf("--compression: %w", err)
	}
	buildArgs, err := keyValues("build-arg", c.StringSlice("build-arg"), true)
	if err != nil {
		return err
	}
	labels, err := keyValues("label", c.StringSlice("label"), false)
	if err != nil {
		return err
	}
	for _, t := range c.StringSlice("tag") {
		if _, err := image.NormalizeName(t, a.cfg.DefaultRegistry); err != nil {
			return fmt.Errorf("-t %s: %w", t, err)
		}
	}
	quiet := c.Bool("quiet")
	var out io.Writer = a.stdout
	switch {
	case quiet:
		out = nil
	case asJSON:
		out = a.stderr
	}
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	b := &build.Builder{Engine: e, Images: a.svc, Log: a.log}
	res, err := b.Build(c.Context, build.Options{
		ContextDir: c.Args().First(), File: c.String("file"), Tags: c.StringSlice("tag"),
		BuildArgs: buildArgs, Target: c.String("target"), NoCache: c.Bool("no-cache"),
		Pull: c.Bool("pull"), Platform: c.String("platform"), Labels: labels,
		Compression: comp, Network: c.String("network"), Output: out, Warn: a.stderr,
	})
	if err != nil {
		var ee *build.ExitError
		if errors.As(err, &ee) {
			return &exitError{code: 1, err: err}
		}
		return err
	}
	switch {
	case asJSON:
		return writeJSON(a.stdout, res)
	case quiet:
		fmt.Fprintln(a.stdout, res.ID.String())
	default:
		for _, n := range res.Names {
			fmt.Fprintf(a.stdout, "Successfully tagged %s\n", n)
		}
		fmt.Fprintln(a.stdout, res.ID.String())
	}
	return nil
}

// keyValues reads repeated K=V flags. With fromEnv, a bare K takes its
// value from the environment (and is left out when unset there).
func keyValues(flag string, in []string, fromEnv bool) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range in {
		k, v, ok := strings.Cut(kv, "=")
		if k == "" {
			return nil, fmt.Errorf("--%s %q: want KEY=VALUE", flag, kv)
		}
		if !ok {
			if !fromEnv {
				return nil, fmt.Errorf("--%s %q: want KEY=VALUE", flag, kv)
			}
			env, set := os.LookupEnv(k)
			if !set {
				continue
			}
			v = env
		}
		out[k] = v
	}
	return out, nil
}
