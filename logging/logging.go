// Package logging builds stockade's log/slog loggers: human-readable text by
// default, or one JSON object per line with RFC 3339 nanosecond timestamps
// and lower-case levels (the shape containerd reads back from an OCI
// runtime's --log file).
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// Format is a log output format.
type Format string

// The supported formats.
const (
	Text Format = "text"
	JSON Format = "json"
)

// ParseFormat checks a --log-format value.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case Text, JSON:
		return Format(s), nil
	}
	return "", fmt.Errorf("log format %q is not one of text, json", s)
}

// ParseLevel reads debug, info, warn (or warning) and error, in any case.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log level %q is not one of debug, info, warn, error", s)
}

// New returns a logger writing to w in the given format at the given level.
func New(w io.Writer, format Format, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: replaceAttr}
	if format == JSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// replaceAttr writes the time with nanoseconds (slog's default keeps
// milliseconds), the level in lower case, and durations as text lines
// write them ("10s", "1.5ms"): slog's JSON handler would print a
// nanosecond integer.
func replaceAttr(groups []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		if t, ok := a.Value.Any().(time.Time); ok {
			return slog.String(slog.TimeKey, t.Format(time.RFC3339Nano))
		}
	case slog.LevelKey:
		if l, ok := a.Value.Any().(slog.Level); ok {
			return slog.String(slog.LevelKey, strings.ToLower(l.String()))
		}
	}
	return a
}

// Error writes a command's final error: in JSON, one object at level
// "error"; in text, one line "prog: message".
func Error(w io.Writer, format Format, prog string, err error) {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	if format == JSON {
		New(w, JSON, slog.LevelError).Error(msg)
		return
	}
	fmt.Fprintf(w, "%s: %s\n", prog, msg)
}
