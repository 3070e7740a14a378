package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/image"
)

func TestOutputFormat(t *testing.T) {
	type rec struct {
		Name   string
		Labels map[string]string
		Tags   []string
	}
	rows := []any{rec{"web", map[string]string{"a": "1"}, []string{"x", "y"}}, rec{"db", nil, nil}}
	tests := []struct {
		format string
		want   string
	}{
		{"{{.Name}}", "web\ndb\n"},
		{"{{upper .Name}}:{{json .Labels}}", "WEB:{\"a\":\"1\"}\nDB:null\n"},
		{`{{join .Tags ","}}|{{title "hello world"}}|{{lower "AB"}}|{{index (split "a/b" "/") 1}}`, "x,y|Hello World|ab|b\n|Hello World|ab|b\n"},
		{`{{.Name}}\t{{truncate .Name 2}}`, "web\twe\ndb\tdb\n"},
		{"table {{.Name}}\t{{.Name}}", "NAME   NAME\nweb    web\ndb     db\n"},
	}
	for _, tt := range tests {
		f, err := parseOutputFormat(tt.format)
		if err != nil {
			t.Fatalf("%q: %v", tt.format, err)
		}
		var buf bytes.Buffer
		if err := f.render(&buf, rows, map[string]string{"Name": "NAME"}); err != nil {
			t.Fatalf("%q: %v", tt.format, err)
		}
		if buf.String() != tt.want {
			t.Errorf("%q:\n%q\nwant\n%q", tt.format, buf.String(), tt.want)
		}
	}
}

func TestOutputFormatErrors(t *testing.T) {
	for _, bad := range []string{"{{.Name", "{{nosuchfunc .X}}", "table {{end}}"} {
		_, err := parseOutputFormat(bad)
		if err == nil {
			t.Errorf("%q parsed", bad)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "--format") {
			t.Errorf("%q: error %q is not one line naming --format", bad, msg)
		}
	}
	// A field that does not exist fails at execution, naming --format.
	f, _ := parseOutputFormat("{{.Nope}}")
	if err := f.render(&bytes.Buffer{}, []any{struct{ A int }{1}}, nil); err == nil || !strings.Contains(err.Error(), "--format") {
		t.Errorf("missing field: %v", err)
	}
}

func TestPsFilters(t *testing.T) {
	mk := func(name, id, img, status string, labels map[string]string) *engine.Container {
		return &engine.Container{Name: name, ID: id, Image: img, ImageID: "sha256:feedface" + id, Labels: labels,
			State: engine.State{Status: engine.Status(status)}}
	}
	all := []*engine.Container{
		mk("web-1", "aaa111", "nginx:1", "running", map[string]string{"tier": "front"}),
		mk("web-2", "aaa222", "nginx:1", "exited", map[string]string{"tier": "front", "x": ""}),
		mk("db", "bbb111", "postgres", "running", map[string]string{"tier": "back"}),
	}
	paused := mk("frozen", "ccc111", "app", "running", nil)
	paused.State.Paused = true
	all = append(all, paused)
	tests := []struct {
		filters []string
		want    []string
	}{
		{nil, []string{"web-1", "web-2", "db", "frozen"}},
		{[]string{"name=web"}, []string{"web-1", "web-2"}},
		{[]string{"name=web-1", "name=db"}, []string{"web-1", "db"}},
		{[]string{"name=web", "status=running"}, []string{"web-1"}},
		{[]string{"label=tier=front"}, []string{"web-1", "web-2"}},
		{[]string{"label=x"}, []string{"web-2"}},
		{[]string{"label=tier=front", "label=tier=back"}, []string{"web-1", "web-2", "db"}},
		{[]string{"ancestor=nginx:1", "status=exited"}, []string{"web-2"}},
		{[]string{"ancestor=feedfacebbb1"}, []string{"db"}},
		{[]string{"id=aaa"}, []string{"web-1", "web-2"}},
		{[]string{"status=paused"}, []string{"frozen"}},
		{[]string{"status=running"}, []string{"web-1", "db"}},
	}
	for _, tt := range tests {
		f, err := parsePsFilters(tt.filters)
		if err != nil {
			t.Fatalf("%q: %v", tt.filters, err)
		}
		var got []string
		for _, c := range all {
			if psMatch(f, c) {
				got = append(got, c.Name)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%q: %q, want %q", tt.filters, got, tt.want)
		}
	}
	for _, bad := range []string{"color=red", "status=sleeping", "name", "health=maybe"} {
		if _, err := parsePsFilters([]string{bad}); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestReadKVFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "env")
	os.WriteFile(p, []byte("# a comment\nA=1\n\n  B=two words\nC=\nFROM_HERE\nD=x=y\r\n"), 0o600)
	got, err := readKVFile("--env-file", p)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"A=1", "B=two words", "C=", "FROM_HERE", "D=x=y"}
	if !slices.Equal(got, want) {
		t.Errorf("%q, want %q", got, want)
	}
	os.WriteFile(p, []byte("A=1\nBAD KEY=2\n"), 0o600)
	if _, err := readKVFile("--env-file", p); err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), p) {
		t.Errorf("bad line: %v", err)
	}
	if _, err := readKVFile("--env-file", filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "--env-file") {
		t.Errorf("missing file: %v", err)
	}
}

func TestParseEventTime(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"10m", now.Add(-10 * time.Minute)},
		{"1767323045", time.Unix(1767323045, 0)},
		{"1767323045.5", time.Unix(1767323045, 5e8)},
		{"2026-01-02T03:00:00Z", time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, err := parseEventTime(tt.in, now)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("%q: %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if _, err := parseEventTime("yesterday", now); err == nil {
		t.Error("yesterday parsed")
	}
}

func TestImageRow(t *testing.T) {
	for _, tt := range []struct{ name, repo, tag string }{
		{"127.0.0.1:5000/e2e/busybox:1", "127.0.0.1:5000/e2e/busybox", "1"},
		{"127.0.0.1:5000/e2e/busybox", "127.0.0.1:5000/e2e/busybox", ""},
		{"alpine:3.20", "alpine", "3.20"},
	} {
		r := newImageRow(&image.Record{Name: tt.name, ID: "sha256:0123456789abcdef0123"}, time.Now(), false)
		if r.Repository != tt.repo || r.Tag != tt.tag {
			t.Errorf("%s: %q %q", tt.name, r.Repository, r.Tag)
		}
	}
}
