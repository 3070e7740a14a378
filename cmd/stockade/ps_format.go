package main

import (
	"bufio"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/network"
)

// psFilterKeys are the keys of ps --filter.
var psFilterKeys = []string{"id", "name", "status", "label", "ancestor", "health"}

// psStatuses are the values of ps --filter status=, docker's.
var psStatuses = []string{"created", "restarting", "running", "removing", "paused", "exited", "dead"}

// parsePsFilters reads ps's --filter values and checks the values that
// have a fixed set.
func parsePsFilters(in []string) (filters, error) {
	f, err := parseFilters(in, psFilterKeys...)
	if err != nil {
		return nil, err
	}
	for _, v := range f["status"] {
		if !slices.Contains(psStatuses, v) {
			return nil, fmt.Errorf("--filter status=%s: not one of %s", v, strings.Join(psStatuses, ", "))
		}
	}
	for _, v := range f["health"] {
		if !slices.Contains([]string{engine.HealthStarting, engine.HealthHealthy, engine.HealthUnhealthy, "none"}, v) {
			return nil, fmt.Errorf("--filter health=%s: not one of starting, healthy, unhealthy, none", v)
		}
	}
	return f, nil
}

// psStatus is the status ps's filter and .State see: docker's words, with
// paused for a paused running container.
func psStatus(c *engine.Container) string {
	if c.State.Status == engine.StatusRunning && c.State.Paused {
		return "paused"
	}
	return string(c.State.Status)
}

// psMatch reports whether c passes the filters: name is a substring of
// the name, id a prefix of the id, ancestor the image as named or an
// image id (prefix, with or without sha256:), label KEY or KEY=VALUE.
func psMatch(f filters, c *engine.Container) bool {
	return f.match(func(k, v string) bool {
		switch k {
		case "id":
			return strings.HasPrefix(c.ID, v)
		case "name":
			return strings.Contains(c.Name, strings.TrimPrefix(v, "/"))
		case "status":
			return psStatus(c) == v
		case "label":
			return matchLabel(c.Labels, v)
		case "ancestor":
			id := strings.TrimPrefix(c.ImageID, "sha256:")
			want := strings.TrimPrefix(v, "sha256:")
			return c.Image == v || strings.TrimSuffix(c.Image, ":latest") == strings.TrimSuffix(v, ":latest") ||
				len(want) >= 4 && strings.HasPrefix(id, want)
		case "health":
			h := c.State.HealthStatus()
			return h == v || h == "" && v == "none"
		}
		return false
	})
}

// psRow is one container as ps --format templates see it, with docker's
// field names.
type psRow struct {
	ID         string
	Image      string
	Command    string
	CreatedAt  string
	RunningFor string
	Ports      string
	State      string
	Status     string
	Names      string
	Networks   string
	labels     map[string]string
}

// Labels is the labels as docker prints them: k=v, comma-separated,
// sorted.
func (r psRow) Labels() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(r.labels)) {
		parts = append(parts, k+"="+r.labels[k])
	}
	return strings.Join(parts, ",")
}

// Label is the value of one label.
func (r psRow) Label(name string) string { return r.labels[name] }

// psTitles are the column titles of ps tables, docker's.
var psTitles = map[string]string{
	"ID": "CONTAINER ID", "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Names": "NAMES",
}

func newPsRow(c *engine.Container, now time.Time, full bool) psRow {
	cmd := strings.Join(c.Command, " ")
	id := c.ID
	if !full {
		id = c.ShortID()
		if len(cmd) > 20 {
			cmd = cmd[:19] + "…"
		}
	}
	return psRow{
		ID: id, Image: c.Image, Command: fmt.Sprintf("%q", cmd),
		CreatedAt:  c.Created.Local().Format("2006-01-02 15:04:05 -0700 MST"),
		RunningFor: ago(now, c.Created), Ports: strings.Join(formatPorts(c), ", "),
		State: psStatus(c), Status: c.State.Summary(now), Names: c.Name, labels: c.Labels,
	}
}

// psTemplate prints containers through a ps --format template.
func (a *app) psTemplate(f *outputFormat, all []*engine.Container, full bool) error {
	now := time.Now()
	rows := make([]any, len(all))
	for i, c := range all {
		rows[i] = newPsRow(c, now, full)
	}
	fields := []string{"ID", "Image", "Command", "CreatedAt", "RunningFor", "Ports", "State", "Status", "Names", "Networks", "Labels"}
	// render writes a line (or, for a table, a cell) at a time: buffered,
	// one write(2) per 4 KiB instead. What was rendered before an error
	// is still printed.
	w := bufio.NewWriter(a.stdout)
	err := f.render(w, rows, headerTitles(fields, psTitles))
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	return err
}

// psPorts is what ps reads of a container's network extension
// (network.Extension, under network.HookName): only the endpoints'
// published ports. Decoding the whole extension, with its networks,
// addresses and times, cost more than anything else ps does per
// container.
type psPorts struct {
	Endpoints []struct {
		Ports []network.PortMapping `json:"ports"`
	} `json:"endpoints"`
}

// formatPorts are a container's published ports as ps shows them:
// "127.0.0.1:8080->80/tcp"; none when its network extension does not
// decode.
func formatPorts(ctr *engine.Container) []string {
	var ext psPorts
	if _, err := ctr.Extension(network.HookName, &ext); err != nil {
		return nil
	}
	var s []string
	for _, ep := range ext.Endpoints {
		for _, p := range ep.Ports {
			s = append(s, network.FormatPort(p))
		}
	}
	return s
}
