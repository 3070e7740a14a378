package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/engine"
)

// eventsCommand is `events [--since T] [--until T] [--filter K=V]
// [--format json|TEMPLATE]`.
func (a *app) eventsCommand() *cli.Command {
	return &cli.Command{
		Name:  "events",
		Usage: "print container events from the engine's events log; without --until, keep printing new ones",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "since", Usage: "events from a time: RFC 3339, Unix seconds, or a duration ago (10m)"},
			&cli.StringFlag{Name: "until", Usage: "events up to a time (same forms), then exit"},
			&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"}, Usage: "container=NAME|ID, event=ACTION, image=IMAGE, type=container, label=K[=V] (repeatable)"},
			&cli.StringFlag{Name: "format", Usage: "json, or a Go template ('{{.Action}} {{.Actor.ID}}')"},
		},
		Action: arity(0, 0, a.events),
	}
}

func (a *app) events(c *cli.Context) error {
	now := time.Now()
	var f engine.EventFilter
	var err error
	if s := c.String("since"); s != "" {
		if f.Since, err = parseEventTime(s, now); err != nil {
			return fmt.Errorf("--since %q: %w", s, err)
		}
	}
	if s := c.String("until"); s != "" {
		if f.Until, err = parseEventTime(s, now); err != nil {
			return fmt.Errorf("--until %q: %w", s, err)
		}
	}
	filter, err := parseFilters(c.StringSlice("filter"), "container", "event", "image", "type", "label")
	if err != nil {
		return err
	}
	var format *outputFormat
	if s := c.String("format"); s != "" {
		if format, err = parseOutputFormat(s); err != nil {
			return err
		}
		format.Table = false
	}
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	// Labels are the container's, looked up once.
	labels := map[string]map[string]string{}
	if len(filter["label"]) > 0 {
		all, err := e.List(c.Context)
		if err != nil {
			return err
		}
		for _, ctr := range all {
			labels[ctr.ID] = ctr.Labels
		}
	}
	f.Match = func(ev engine.Event) bool {
		return filter.match(func(k, v string) bool {
			switch k {
			case "container":
				return ev.Actor.Attributes["name"] == v || strings.HasPrefix(ev.Actor.ID, v)
			case "event":
				return ev.Action == v || strings.HasPrefix(ev.Action, v+":")
			case "image":
				return ev.Actor.Attributes["image"] == v
			case "type":
				return ev.Type == v
			case "label":
				return matchLabel(labels[ev.Actor.ID], v)
			}
			return false
		})
	}
	if f.Since.IsZero() && f.Until.IsZero() {
		f.Since = now // docker: only new events
	}
	follow := f.Until.IsZero()
	return e.Events(c.Context, f, follow, func(ev engine.Event) error {
		switch {
		case format == nil:
			_, err := fmt.Fprintln(a.stdout, eventLine(ev))
			return err
		case format.JSON:
			b, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "%s\n", b)
			return err
		default:
			return format.render(a.stdout, []any{ev}, nil)
		}
	})
}

// eventLine is docker's text form of an event: time, type, action, id
// and the attributes, sorted.
func eventLine(ev engine.Event) string {
	var attrs []string
	for _, k := range slices.Sorted(maps.Keys(ev.Actor.Attributes)) {
		attrs = append(attrs, k+"="+ev.Actor.Attributes[k])
	}
	return fmt.Sprintf("%s %s %s %s (%s)", ev.When().Format("2006-01-02T15:04:05.000000000Z07:00"), ev.Type, ev.Action, ev.Actor.ID, strings.Join(attrs, ", "))
}

// parseEventTime reads docker's time forms: RFC 3339 (with or without
// fraction or zone), Unix seconds with an optional fraction, or a
// duration before now.
func parseEventTime(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(secs, 0) && !math.IsNaN(secs) {
		whole, frac := math.Modf(secs)
		return time.Unix(int64(whole), int64(frac*1e9)), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("want an RFC 3339 time, Unix seconds or a duration such as 10m")
}
