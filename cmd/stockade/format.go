package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"text/template"
	"unicode"

	"github.com/urfave/cli/v2"
)

// templateFuncs are the functions of --format templates, docker's set:
// json, join, lower, upper, split, title, println, pad, truncate.
var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"join":    strings.Join,
	"lower":   strings.ToLower,
	"upper":   strings.ToUpper,
	"split":   strings.Split,
	"title":   title,
	"println": fmt.Sprintln,
	"pad": func(s string, left, right int) string {
		return strings.Repeat(" ", max(left, 0)) + s + strings.Repeat(" ", max(right, 0))
	},
	"truncate": func(s string, n int) string {
		if n >= 0 && len(s) > n {
			return s[:n]
		}
		return s
	},
}

// title upper-cases the first letter of every word.
func title(s string) string {
	prev := ' '
	return strings.Map(func(r rune) rune {
		defer func() { prev = r }()
		if unicode.IsSpace(prev) {
			return unicode.ToUpper(r)
		}
		return r
	}, s)
}

// outputFormat is a parsed --format: the default table, json, or a Go
// template, with "table " before it for a table with a header line.
type outputFormat struct {
	// JSON is --format json.
	JSON bool
	// Tmpl is the template, nil for the default table and for json.
	Tmpl *template.Template
	// Table is set for "table" and "table TEMPLATE".
	Table bool
}

// Default reports whether the format is the command's own table.
func (f *outputFormat) Default() bool { return !f.JSON && f.Tmpl == nil }

// templateFormatFlag is the --format flag of commands that take
// templates.
func templateFormatFlag() cli.Flag {
	return &cli.StringFlag{Name: "format", Usage: "output format: table, json, a Go template ('{{.Name}}'), or 'table TEMPLATE'", Value: "table"}
}

// parseOutputFormat reads a --format value; a template that does not
// parse is a one-line error naming it.
func parseOutputFormat(s string) (*outputFormat, error) {
	switch strings.TrimSpace(s) {
	case "", "table":
		return &outputFormat{Table: true}, nil
	case "json":
		return &outputFormat{JSON: true}, nil
	}
	f := &outputFormat{}
	text := s
	if rest, ok := strings.CutPrefix(s, "table "); ok {
		f.Table, text = true, rest
	}
	// Typed \t and \n, as in docker's examples, are tabs and newlines.
	text = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(text)
	t, err := template.New("format").Funcs(templateFuncs).Option("missingkey=zero").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("--format %q: %s", s, oneLineErr(err))
	}
	f.Tmpl = t
	return f, nil
}

// oneLineErr is err's message without newlines.
func oneLineErr(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "template: format:", "")), " ")
}

// render writes each row through the template, one per line; a table
// gets the template run on header first (a map from field name to column
// title), and its columns aligned.
func (f *outputFormat) render(w io.Writer, rows []any, header map[string]string) error {
	out := w
	var tw *tabwriter.Writer
	if f.Table {
		tw = tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
		out = tw
		var buf bytes.Buffer
		if header != nil && f.Tmpl.Execute(&buf, header) == nil {
			fmt.Fprintln(out, strings.TrimRight(buf.String(), "\n"))
		}
	}
	for _, row := range rows {
		var buf bytes.Buffer
		if err := f.Tmpl.Execute(&buf, row); err != nil {
			return fmt.Errorf("--format: %s", oneLineErr(err))
		}
		line := buf.String()
		if !strings.HasSuffix(line, "\n") {
			line += "\n"
		}
		io.WriteString(out, line)
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

// headerTitles makes the header map of a table from column titles by
// field name; fields not named get their name upper-cased.
func headerTitles(fields []string, titles map[string]string) map[string]string {
	h := make(map[string]string, len(fields))
	for _, f := range fields {
		if t, ok := titles[f]; ok {
			h[f] = t
		} else {
			h[f] = strings.ToUpper(f)
		}
	}
	return h
}

// filters is a parsed --filter list: values by key. Docker's semantics:
// the values of one key are alternatives, different keys must all match.
type filters map[string][]string

// parseFilters reads --filter KEY=VALUE values, checking each key is one
// of known.
func parseFilters(in []string, known ...string) (filters, error) {
	f := filters{}
	for _, kv := range in {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("--filter %q: want KEY=VALUE", kv)
		}
		if !slices.Contains(known, k) {
			return nil, fmt.Errorf("--filter %q: unknown filter %q (known: %s)", kv, k, strings.Join(known, ", "))
		}
		f[k] = append(f[k], v)
	}
	return f, nil
}

// match reports whether, for every key filtered on, test holds for at
// least one of its values.
func (f filters) match(test func(key, value string) bool) bool {
	for k, vals := range f {
		if !slices.ContainsFunc(vals, func(v string) bool { return test(k, v) }) {
			return false
		}
	}
	return true
}

// matchLabel is docker's label filter: "KEY" wants the label, "KEY=VALUE"
// wants that value.
func matchLabel(labels map[string]string, want string) bool {
	k, v, hasValue := strings.Cut(want, "=")
	got, ok := labels[k]
	return ok && (!hasValue || got == v)
}

// inspectFormatFlag is the --format flag of the inspect commands.
func inspectFormatFlag() cli.Flag {
	return &cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "json, or a Go template run on each record ('{{.State.Status}}', '{{json .Labels}}')"}
}

// writeTemplated writes the records of an inspect command as its
// --format says: json (the default), or the template once per record.
func writeTemplated[T any](w io.Writer, format string, values []T) error {
	if format == "" || format == "json" {
		return writeJSON(w, values)
	}
	f, err := parseOutputFormat(format)
	if err != nil {
		return err
	}
	if f.Tmpl == nil {
		return fmt.Errorf("--format %q: inspect prints json or a template", format)
	}
	f.Table = false
	rows := make([]any, len(values))
	for i, v := range values {
		rows[i] = v
	}
	return f.render(w, rows, nil)
}
