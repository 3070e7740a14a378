package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/engine"
)

// psEntry is one container in `ps --format json`.
type psEntry struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Image    string            `json:"image"`
	Command  []string          `json:"command"`
	Created  time.Time         `json:"created"`
	Status   string            `json:"status"`
	State    engine.State      `json:"state"`
	Restart  string            `json:"restart"`
	Labels   map[string]string `json:"labels,omitempty"`
	ExitCode int               `json:"exitCode"`
	// Ports are the published ports, "127.0.0.1:8080->80/tcp".
	Ports []string `json:"ports,omitempty"`
}

// ps is `ps [-a] [-q] [--no-trunc] [--filter K=V]... [--format json|TEMPLATE]`.
func (a *app) ps(c *cli.Context) error {
	format, err := parseOutputFormat(c.String("format"))
	if err != nil {
		return err
	}
	asJSON := format.JSON
	filter, err := parsePsFilters(c.StringSlice("filter"))
	if err != nil {
		return err
	}
	// A status filter lists stopped containers too, as docker's does.
	showAll := c.Bool("all") || len(filter["status"]) > 0
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	all, err := e.List(c.Context)
	if err != nil {
		return err
	}
	now := time.Now()
	entries := []psEntry{}
	var shown []*engine.Container
	for _, ctr := range all {
		if !showAll && !ctr.State.Running() || !psMatch(filter, ctr) {
			continue
		}
		shown = append(shown, ctr)
		entries = append(entries, psEntry{
			ID: ctr.ID, Name: ctr.Name, Image: ctr.Image, Command: ctr.Command, Created: ctr.Created,
			Status: ctr.State.Summary(now), State: ctr.State, Restart: ctr.Restart.String(),
			Labels: ctr.Labels, ExitCode: ctr.State.ExitCode, Ports: formatPorts(ctr),
		})
	}
	if asJSON {
		return writeJSON(a.stdout, entries)
	}
	// id and command are shortened, as docker does, unless --no-trunc.
	full := c.Bool("no-trunc")
	id := func(p psEntry) string {
		if full {
			return p.ID
		}
		return p.ID[:12]
	}
	if format.Tmpl != nil && !c.Bool("quiet") {
		return a.psTemplate(format, shown, full)
	}
	if c.Bool("quiet") {
		for _, p := range entries {
			fmt.Fprintln(a.stdout, id(p))
		}
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAME")
	for _, p := range entries {
		cmd := strings.Join(p.Command, " ")
		if len(cmd) > 30 && !full {
			cmd = cmd[:27] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%q\t%s\t%s\t%s\t%s\n", id(p), p.Image, cmd, ago(now, p.Created), p.Status, strings.Join(p.Ports, ", "), p.Name)
	}
	return tw.Flush()
}
