package main

import (
	"bufio"
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
	var shown []*engine.Container
	for _, ctr := range all {
		if (showAll || ctr.State.Running()) && psMatch(filter, ctr) {
			shown = append(shown, ctr)
		}
	}
	// id and command are shortened, as docker does, unless --no-trunc.
	full := c.Bool("no-trunc")
	id := func(ctr *engine.Container) string {
		if full {
			return ctr.ID
		}
		return ctr.ShortID()
	}
	now := time.Now()
	switch {
	case asJSON:
		entries := make([]psEntry, len(shown))
		for i, ctr := range shown {
			entries[i] = psEntry{
				ID: ctr.ID, Name: ctr.Name, Image: ctr.Image, Command: ctr.Command, Created: ctr.Created,
				Status: ctr.State.Summary(now), State: ctr.State, Restart: ctr.Restart.String(),
				Labels: ctr.Labels, ExitCode: ctr.State.ExitCode, Ports: formatPorts(ctr),
			}
		}
		return writeJSON(a.stdout, entries)
	case c.Bool("quiet"):
		w := bufio.NewWriter(a.stdout)
		for _, ctr := range shown {
			w.WriteString(id(ctr) + "\n")
		}
		return w.Flush()
	case format.Tmpl != nil:
		return a.psTemplate(format, shown, full)
	}
	// tabwriter writes every cell and its padding on its own: a write(2)
	// each without the buffer, a dozen per container.
	w := bufio.NewWriter(a.stdout)
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAME")
	for _, ctr := range shown {
		cmd := strings.Join(ctr.Command, " ")
		if len(cmd) > 30 && !full {
			cmd = cmd[:27] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%q\t%s\t%s\t%s\t%s\n", id(ctr), ctr.Image, cmd, ago(now, ctr.Created),
			ctr.State.Summary(now), strings.Join(formatPorts(ctr), ", "), ctr.Name)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return w.Flush()
}
