package engine

import (
	"context"

	"github.com/stockade/stockade/internal/monitorio"
)

// A container's log is monitorio's json-file log; these names keep the
// engine's API.

// LogEntry is one line of a container's log, in Docker's json-file shape.
type LogEntry = monitorio.LogEntry

// LogWriter appends LogEntry lines to a file and rotates it by size.
type LogWriter = monitorio.LogWriter

// LogOptions select what ReadLog returns.
type LogOptions = monitorio.LogOptions

// Default log rotation limits.
const (
	DefaultLogMaxSize  = monitorio.DefaultLogMaxSize
	DefaultLogMaxFiles = monitorio.DefaultLogMaxFiles
)

// OpenLog opens (or creates) the log at path for appending.
func OpenLog(path string, maxSize int64, maxFiles int) (*LogWriter, error) {
	return monitorio.OpenLog(path, maxSize, maxFiles)
}

// ReadLog calls fn for the entries of the log at path (rotated files
// first), as selected by opts.
func ReadLog(ctx context.Context, path string, opts LogOptions, fn func(LogEntry) error) error {
	return monitorio.ReadLog(ctx, path, opts, fn)
}
