package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/engine"
)

// logs is `logs [-f] [--tail N] [--since T] [--timestamps] CONTAINER`.
func (a *app) logs(c *cli.Context) error {
	opts := engine.LogOptions{Tail: -1, Follow: c.Bool("follow")}
	if t := c.String("tail"); t != "all" {
		n, err := parseNonNegative(t)
		if err != nil {
			return fmt.Errorf("--tail %q: want a number or all", t)
		}
		opts.Tail = n
	}
	if s := c.String("since"); s != "" {
		if d, err := time.ParseDuration(s); err == nil {
			opts.Since = time.Now().Add(-d)
		} else if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			opts.Since = t
		} else {
			return fmt.Errorf("--since %q: want an RFC 3339 time or a duration such as 10m", s)
		}
	}
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	ctr, err := e.Get(c.Context, c.Args().First())
	if err != nil {
		return err
	}
	opts.Done = func() bool {
		cur, err := e.Get(context.WithoutCancel(c.Context), ctr.ID)
		return err != nil || !cur.State.Running()
	}
	stamps := c.Bool("timestamps")
	return engine.ReadLog(c.Context, e.LogPath(ctr.ID), opts, func(le engine.LogEntry) error {
		w := a.stdout
		if le.Stream == "stderr" {
			w = a.stderr
		}
		if stamps {
			fmt.Fprint(w, le.Time.Format(time.RFC3339Nano)+" ")
		}
		_, err := fmt.Fprint(w, le.Log)
		return err
	})
}

// parseNonNegative parses a count such as --tail's.
func parseNonNegative(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, errors.New("not a number")
	}
	return n, nil
}
