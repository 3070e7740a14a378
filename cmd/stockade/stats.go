package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/stockade/stockade/engine"
)

// statsInterval is the time between two samples, as docker's.
const statsInterval = time.Second

// statsCommand is `stats [--no-stream] [--format json|TEMPLATE] [-a] [CONTAINER...]`.
func (a *app) statsCommand() *cli.Command {
	return &cli.Command{
		Name:      "stats",
		Usage:     "show containers' CPU, memory, pids, block and network I/O (Linux: cgroups; FreeBSD: racct)",
		ArgsUsage: "[CONTAINER...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "no-stream", Usage: "print one sample and exit"},
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "also stopped containers"},
			&cli.StringFlag{Name: "format", Value: "table", Usage: "table, json, or a Go template run on each row ('{{.Name}} {{.MemUsage}}')"},
		},
		Action: a.stats,
	}
}

// statsEntry is one row of stats. Its field names are docker's template
// names; its JSON has the numbers.
type statsEntry struct {
	ID          string    `json:"id"`
	Container   string    `json:"-"`
	Name        string    `json:"name"`
	CPUPercent  float64   `json:"cpuPercent"`
	MemoryUsage uint64    `json:"memoryUsage"`
	MemoryLimit uint64    `json:"memoryLimit"`
	MemPercent  float64   `json:"memoryPercent"`
	NetRx       uint64    `json:"netRx"`
	NetTx       uint64    `json:"netTx"`
	BlockRead   uint64    `json:"blockRead"`
	BlockWrite  uint64    `json:"blockWrite"`
	PIDs        uint64    `json:"pids"`
	Read        time.Time `json:"read,omitzero"`
}

// CPUPerc, MemUsage, MemPerc, NetIO and BlockIO are the columns as text,
// for templates.
func (s statsEntry) CPUPerc() string { return fmt.Sprintf("%.2f%%", s.CPUPercent) }
func (s statsEntry) MemUsage() string {
	return binarySize(s.MemoryUsage) + " / " + binarySize(s.MemoryLimit)
}
func (s statsEntry) MemPerc() string { return fmt.Sprintf("%.2f%%", s.MemPercent) }
func (s statsEntry) NetIO() string {
	return humanSize(int64(s.NetRx)) + " / " + humanSize(int64(s.NetTx))
}
func (s statsEntry) BlockIO() string {
	return humanSize(int64(s.BlockRead)) + " / " + humanSize(int64(s.BlockWrite))
}

// binarySize renders bytes in binary units, as docker's memory column
// ("1.5MiB").
func binarySize(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.4g%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func (a *app) stats(c *cli.Context) error {
	format := c.String("format")
	var tmpl *template.Template
	if format != "table" && format != "json" && format != "" {
		t, err := template.New("stats").Funcs(template.FuncMap{"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		}}).Parse(format)
		if err != nil {
			return fmt.Errorf("--format %q: %s", format, strings.ReplaceAll(err.Error(), "\n", " "))
		}
		tmpl = t
	}
	e, err := a.engine(c)
	if err != nil {
		return err
	}
	named := c.Args().Slice()
	for _, ref := range named {
		if _, err := e.Get(c.Context, ref); err != nil {
			return fmt.Errorf("stats: %w", err)
		}
	}
	redraw := false
	if f, ok := a.stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) && !c.Bool("no-stream") {
		redraw = true
	}
	prev := map[string]*engine.Stats{}
	first := true
	for {
		ctrs, err := a.statsContainers(c, e, named)
		if err != nil {
			return err
		}
		if first {
			// CPU is a difference: a first sample, then the interval.
			for _, ctr := range ctrs {
				if s, err := e.Stats(c.Context, ctr); err == nil {
					prev[ctr.ID] = s
				} else if errors.Is(err, engine.ErrRacctDisabled) {
					return err
				}
			}
			first = false
			if !sleepCtx(c, statsInterval/2) {
				return nil
			}
			continue
		}
		rows := make([]statsEntry, 0, len(ctrs))
		for _, ctr := range ctrs {
			row := statsEntry{ID: ctr.ID, Container: ctr.ShortID(), Name: ctr.Name}
			if ctr.State.Running() {
				s, err := e.Stats(c.Context, ctr)
				if errors.Is(err, engine.ErrRacctDisabled) {
					return err
				}
				if err != nil {
					a.log.Warn("stats", "container", ctr.Name, "error", err)
				} else {
					row.CPUPercent = engine.CPUPercent(prev[ctr.ID], s)
					row.MemoryUsage, row.MemoryLimit, row.PIDs = s.MemoryUsage, s.MemoryLimit, s.Pids
					if s.MemoryLimit > 0 {
						row.MemPercent = float64(s.MemoryUsage) / float64(s.MemoryLimit) * 100
					}
					row.NetRx, row.NetTx, row.BlockRead, row.BlockWrite = s.NetRx, s.NetTx, s.BlockRead, s.BlockWrite
					row.Read = s.Read
					prev[ctr.ID] = s
				}
			}
			rows = append(rows, row)
		}
		if redraw {
			fmt.Fprint(a.stdout, "\033[2J\033[H")
		}
		if err := a.writeStats(a.stdout, format, tmpl, rows, c.Bool("no-stream")); err != nil {
			return err
		}
		if c.Bool("no-stream") {
			return nil
		}
		if !sleepCtx(c, statsInterval) {
			return nil
		}
	}
}

// statsContainers are the containers to show: those named, else the
// running ones (every one with -a).
func (a *app) statsContainers(c *cli.Context, e *engine.Engine, named []string) ([]*engine.Container, error) {
	if len(named) > 0 {
		out := make([]*engine.Container, 0, len(named))
		for _, ref := range named {
			ctr, err := e.Get(c.Context, ref)
			if err != nil {
				return nil, fmt.Errorf("stats: %w", err)
			}
			out = append(out, ctr)
		}
		return out, nil
	}
	all, err := e.List(c.Context)
	if err != nil {
		return nil, err
	}
	var out []*engine.Container
	for _, ctr := range all {
		if c.Bool("all") || ctr.State.Running() {
			out = append(out, ctr)
		}
	}
	return out, nil
}

func (a *app) writeStats(w io.Writer, format string, tmpl *template.Template, rows []statsEntry, once bool) error {
	switch {
	case format == "json" && once:
		return writeJSON(w, rows)
	case format == "json":
		b, err := json.Marshal(rows)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case tmpl != nil:
		for _, r := range rows {
			if err := tmpl.Execute(w, r); err != nil {
				return fmt.Errorf("--format: %w", err)
			}
			fmt.Fprintln(w)
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tBLOCK I/O\tPIDS")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", r.Container, r.Name, r.CPUPerc(), r.MemUsage(), r.MemPerc(), r.NetIO(), r.BlockIO(), r.PIDs)
	}
	return tw.Flush()
}

// sleepCtx sleeps for d and reports false when the command was cancelled.
func sleepCtx(c *cli.Context, d time.Duration) bool {
	select {
	case <-c.Context.Done():
		return false
	case <-time.After(d):
		return true
	}
}
