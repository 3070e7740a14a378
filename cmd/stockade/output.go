package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/engine"
)

// writeJSON writes v as indented JSON, the shape of every --format json.
func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// humanSize renders n bytes in decimal units, as docker does ("1.5 MB").
func humanSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// since renders how long ago t was, "-" for the zero time.
func since(t time.Time) string { return ago(time.Now(), t) }

// ago renders how long before now t was, in the words of the STATUS
// column of ps ("Less than a second ago", "About a minute ago",
// "5 minutes ago"), "-" for the zero time.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return engine.HumanDuration(now.Sub(t)) + " ago"
}

// formatFlag is the --format flag of the listings: table or json.
func formatFlag() cli.Flag {
	return &cli.StringFlag{Name: "format", Usage: "output format: table or json", Value: "table"}
}

// checkFormat reads --format: true for json.
func checkFormat(c *cli.Context) (bool, error) {
	switch f := c.String("format"); f {
	case "table", "":
		return false, nil
	case "json":
		return true, nil
	default:
		return false, fmt.Errorf("--format %q is not one of table, json", f)
	}
}
