package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestJSONLines(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, JSON, slog.LevelDebug)
	log.Debug("pulling", "ref", "localhost:5000/demo:1", "layers", 3)
	log.Warn("retry", "attempt", 2)
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %d: %q", len(lines), buf.String())
	}
	for i, want := range []struct{ level, msg string }{{"debug", "pulling"}, {"warn", "retry"}} {
		var obj map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &obj); err != nil {
			t.Fatalf("line %d is not JSON: %v", i, err)
		}
		if obj["level"] != want.level || obj["msg"] != want.msg {
			t.Errorf("line %d: level=%v msg=%v", i, obj["level"], obj["msg"])
		}
		ts, _ := obj["time"].(string)
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			t.Errorf("time %q: %v", ts, err)
		}
	}
	var first map[string]any
	_ = json.Unmarshal([]byte(lines[0]), &first)
	if first["ref"] != "localhost:5000/demo:1" || first["layers"] != float64(3) {
		t.Errorf("attributes lost: %v", first)
	}
}

func TestDurationsAsText(t *testing.T) {
	for _, format := range []Format{JSON, Text} {
		var buf bytes.Buffer
		New(&buf, format, slog.LevelInfo).Info("restarting", "wait", 10*time.Second, slog.Group("g", "took", 1500*time.Microsecond))
		out := buf.String()
		for _, want := range []string{"10s", "1.5ms"} {
			if !strings.Contains(out, want) {
				t.Errorf("format %v: %q lacks %q", format, out, want)
			}
		}
		if strings.Contains(out, "10000000000") {
			t.Errorf("format %v: duration as nanoseconds: %q", format, out)
		}
	}
}

func TestNanoseconds(t *testing.T) {
	a := replaceAttr(nil, slog.Time(slog.TimeKey, time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)))
	if got := a.Value.String(); got != "2026-11-25T10:00:00.123456789Z" {
		t.Errorf("got %q", got)
	}
}

func TestLevelFilter(t *testing.T) {
	var buf bytes.Buffer
	New(&buf, Text, slog.LevelWarn).Info("hidden")
	if buf.Len() != 0 {
		t.Errorf("info logged at warn level: %q", buf.String())
	}
}

func TestError(t *testing.T) {
	tests := []struct {
		format Format
		check  func(t *testing.T, out string)
	}{
		{Text, func(t *testing.T, out string) {
			if out != "stockade: pull x: boom on two lines\n" {
				t.Errorf("got %q", out)
			}
		}},
		{JSON, func(t *testing.T, out string) {
			var obj map[string]any
			if strings.Count(out, "\n") != 1 {
				t.Fatalf("not one line: %q", out)
			}
			if err := json.Unmarshal([]byte(out), &obj); err != nil {
				t.Fatal(err)
			}
			if obj["level"] != "error" || obj["msg"] != "pull x: boom on two lines" {
				t.Errorf("got %v", obj)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.format), func(t *testing.T) {
			var buf bytes.Buffer
			Error(&buf, tt.format, "stockade", errors.New("pull x: boom on\ntwo lines"))
			tt.check(t, buf.String())
		})
	}
}

func TestParse(t *testing.T) {
	for _, s := range []string{"debug", "INFO", "warning", "error"} {
		if _, err := ParseLevel(s); err != nil {
			t.Errorf("ParseLevel(%q): %v", s, err)
		}
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Error("ParseLevel(loud) accepted")
	}
	if _, err := ParseFormat("xml"); err == nil || err.Error() != `log format "xml" is not one of text, json` {
		t.Errorf("ParseFormat(xml): %v", err)
	}
}
