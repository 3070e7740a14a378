package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/engine"
)

// healthFlags are run's and create's health check flags, docker's.
func healthFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "health-cmd", Usage: "command to run to check health (run by /bin/sh -c in the container)"},
		&cli.StringFlag{Name: "health-interval", Usage: "time between checks, e.g. 30s (default 30s)"},
		&cli.StringFlag{Name: "health-timeout", Usage: "longest a check may run, e.g. 30s (default 30s)"},
		&cli.IntFlag{Name: "health-retries", Usage: "failures in a row that make the container unhealthy (default 3)"},
		&cli.StringFlag{Name: "health-start-period", Usage: "time after start when failures do not count, e.g. 1m (default 0s)"},
		&cli.BoolFlag{Name: "no-healthcheck", Usage: "run no health check, not even the image's HEALTHCHECK"},
	}
}

// healthFromFlags reads the health flags: nil when none is set, so the
// image's HEALTHCHECK holds; each flag set overrides that field of it.
func healthFromFlags(c *cli.Context) (*engine.HealthConfig, error) {
	if c.Bool("no-healthcheck") {
		for _, f := range []string{"health-cmd", "health-interval", "health-timeout", "health-retries", "health-start-period"} {
			if c.IsSet(f) {
				return nil, fmt.Errorf("--no-healthcheck and --%s cannot be used together", f)
			}
		}
		return &engine.HealthConfig{Test: []string{"NONE"}}, nil
	}
	var h engine.HealthConfig
	set := false
	if c.IsSet("health-cmd") {
		cmd := c.String("health-cmd")
		if cmd == "" {
			return nil, errors.New(`--health-cmd "": want a command`)
		}
		h.Test = []string{"CMD-SHELL", cmd}
		set = true
	}
	for _, d := range []struct {
		flag string
		dst  *time.Duration
		min  time.Duration
	}{
		{"health-interval", &h.Interval, time.Millisecond},
		{"health-timeout", &h.Timeout, time.Millisecond},
		{"health-start-period", &h.StartPeriod, 0},
	} {
		if !c.IsSet(d.flag) {
			continue
		}
		s := c.String(d.flag)
		v, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("--%s %q: want a duration such as 30s or 1m", d.flag, s)
		}
		if v < d.min || v < 0 || v == 0 && d.min > 0 {
			return nil, fmt.Errorf("--%s %q: must be at least %s", d.flag, s, max(d.min, 0))
		}
		*d.dst = v
		set = true
	}
	if c.IsSet("health-retries") {
		n := c.Int("health-retries")
		if n < 1 {
			return nil, fmt.Errorf("--health-retries %d: must be at least 1", n)
		}
		h.Retries = n
		set = true
	}
	if !set {
		return nil, nil
	}
	return &h, nil
}
