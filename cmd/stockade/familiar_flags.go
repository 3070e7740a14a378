package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/ociruntime"
)

// familiarFlags are run's and create's docker options of issue 17:
// labels, env files, --init, the stop signal and timeout.
func familiarFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "label", Aliases: []string{"l"}, Usage: "label the container K=V (K alone: empty value; repeatable)"},
		&cli.StringSliceFlag{Name: "label-file", Usage: "read labels from a file of K=V lines (repeatable)"},
		&cli.StringSliceFlag{Name: "env-file", Usage: "read environment variables from a file: K=V lines, K alone from here, # comments (repeatable; -e wins)"},
		&cli.BoolFlag{Name: "init", Usage: "run a minimal init as PID 1 that forwards signals and reaps zombies"},
		&cli.StringFlag{Name: "stop-signal", Usage: "signal stop sends first (default: the image's STOPSIGNAL, else SIGTERM)"},
		&cli.IntFlag{Name: "stop-timeout", Usage: "seconds stop waits before SIGKILL (default 10)"},
	}
}

// runExtras are the values of familiarFlags and healthFlags, read and
// checked before anything is pulled or made.
type runExtras struct {
	labels      map[string]string
	env         []string
	init        string
	stopSignal  string
	stopTimeout *int
	health      *engine.HealthConfig
}

// parseRunExtras reads the flags of familiarFlags and healthFlags.
func parseRunExtras(c *cli.Context) (*runExtras, error) {
	x := &runExtras{}
	var err error
	if x.health, err = healthFromFlags(c); err != nil {
		return nil, err
	}
	for _, file := range c.StringSlice("label-file") {
		lines, err := readKVFile("--label-file", file)
		if err != nil {
			return nil, err
		}
		for _, kv := range lines {
			x.addLabel(kv)
		}
	}
	for _, kv := range c.StringSlice("label") {
		if kv == "" || kv[0] == '=' {
			return nil, fmt.Errorf("--label %q: want KEY=VALUE or KEY", kv)
		}
		x.addLabel(kv)
	}
	for _, file := range c.StringSlice("env-file") {
		lines, err := readKVFile("--env-file", file)
		if err != nil {
			return nil, err
		}
		env, err := expandEnv(lines)
		if err != nil {
			return nil, fmt.Errorf("--env-file %s: %w", file, err)
		}
		x.env = append(x.env, env...)
	}
	if c.Bool("init") {
		self, err := os.Executable()
		if err == nil {
			self, err = filepath.EvalSymlinks(self)
		}
		if err != nil {
			return nil, fmt.Errorf("--init: find the stockade binary: %w", err)
		}
		x.init = self
	}
	if c.IsSet("stop-signal") {
		s := c.String("stop-signal")
		if _, err := ociruntime.ParseSignal(s); err != nil {
			return nil, fmt.Errorf("--stop-signal %q: %w", s, err)
		}
		x.stopSignal = s
	}
	if c.IsSet("stop-timeout") {
		n := c.Int("stop-timeout")
		if n < 0 {
			return nil, fmt.Errorf("--stop-timeout %d: must not be negative", n)
		}
		x.stopTimeout = &n
	}
	return x, nil
}

func (x *runExtras) addLabel(kv string) {
	if x.labels == nil {
		x.labels = map[string]string{}
	}
	k, v, _ := strings.Cut(kv, "=")
	x.labels[k] = v
}

// create completes the create options: labels, env file variables before
// -e's (so -e wins), the init, the stop signal and timeout, the health
// check.
func (x *runExtras) create(o engine.CreateOptions) engine.CreateOptions {
	if len(x.labels) > 0 {
		labels := map[string]string{}
		for k, v := range x.labels {
			labels[k] = v
		}
		for k, v := range o.Labels {
			labels[k] = v
		}
		o.Labels = labels
	}
	if len(x.env) > 0 {
		o.Spec.Env = append(append([]string{}, x.env...), o.Spec.Env...)
	}
	o.Spec.Init = x.init
	o.StopSignal, o.StopTimeout, o.Healthcheck = x.stopSignal, x.stopTimeout, x.health
	return o
}

// readKVFile reads docker's env-file format: one KEY=VALUE or KEY per
// line, blank lines and lines starting with # skipped, the value taken
// as it is (no quotes removed, as docker). Errors name the flag, the
// file and the line.
func readKVFile(flag, path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, path, unwrapPathError(err))
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimSuffix(line, "\r")
		k, v, hasValue := strings.Cut(line, "=")
		if strings.TrimSpace(k) == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("%s %s: line %d: %q is not KEY=VALUE or KEY", flag, path, n, line)
		}
		if hasValue {
			out = append(out, k+"="+v)
		} else {
			out = append(out, k)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	return out, nil
}

// unwrapPathError drops the path of an *os.PathError, which the message
// already names.
func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
