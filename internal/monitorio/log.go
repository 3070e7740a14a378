package monitorio

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// LogEntry is one line of a container's log, in Docker's json-file shape.
type LogEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// LogWriter appends LogEntry lines to a file and rotates it by size:
// path, path.1, ... path.(MaxFiles-1), oldest last.
type LogWriter struct {
	path     string
	maxSize  int64
	maxFiles int

	mu   sync.Mutex
	f    *os.File
	size int64
	now  func() time.Time
}

// Default log rotation limits.
const (
	DefaultLogMaxSize  = 10 << 20
	DefaultLogMaxFiles = 3
)

// OpenLog opens (or creates) the log at path for appending.
func OpenLog(path string, maxSize int64, maxFiles int) (*LogWriter, error) {
	if maxSize <= 0 {
		maxSize = DefaultLogMaxSize
	}
	if maxFiles < 1 {
		maxFiles = 1
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open log: %w", err)
	}
	return &LogWriter{path: path, maxSize: maxSize, maxFiles: maxFiles, f: f, size: st.Size(), now: time.Now}, nil
}

// Stream returns a writer that logs each line written to it as one entry
// of the given stream ("stdout" or "stderr"). A partial last line is
// logged when the writer is closed.
func (w *LogWriter) Stream(stream string) io.WriteCloser {
	return &lineWriter{w: w, stream: stream}
}

// Write logs one entry. Lines longer than 16 KiB are split, as Docker does.
func (w *LogWriter) Write(stream string, line []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	data, err := json.Marshal(LogEntry{Log: string(line), Stream: stream, Time: w.now().UTC()})
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if w.size > 0 && w.size+int64(len(data)) > w.maxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(data)
	w.size += int64(n)
	return err
}

func (w *LogWriter) rotate() error {
	if err := w.f.Close(); err != nil {
		return err
	}
	if w.maxFiles > 1 {
		for i := w.maxFiles - 1; i > 1; i-- {
			os.Rename(w.path+"."+strconv.Itoa(i-1), w.path+"."+strconv.Itoa(i))
		}
		if err := os.Rename(w.path, w.path+".1"); err != nil {
			return fmt.Errorf("rotate log: %w", err)
		}
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_TRUNC|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	w.f, w.size = f, 0
	return nil
}

// MaxSize is the size at which the log rotates.
func (w *LogWriter) MaxSize() int64 { return w.maxSize }

// MaxFiles is how many files the log keeps, the current one included.
func (w *LogWriter) MaxFiles() int { return w.maxFiles }

// Close closes the file.
func (w *LogWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}

const maxLogLine = 16 << 10

type lineWriter struct {
	w      *LogWriter
	stream string
	buf    []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		n := indexNL(l.buf) + 1
		if n == 0 || n > maxLogLine {
			if len(l.buf) < maxLogLine {
				return len(p), nil
			}
			n = maxLogLine
		}
		if err := l.w.Write(l.stream, l.buf[:n]); err != nil {
			return 0, err
		}
		l.buf = l.buf[n:]
	}
}

func indexNL(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return -1
}

func (l *lineWriter) Close() error {
	if len(l.buf) == 0 {
		return nil
	}
	err := l.w.Write(l.stream, l.buf)
	l.buf = nil
	return err
}

// LogOptions select what ReadLog returns.
type LogOptions struct {
	// Tail keeps only the last Tail entries; negative means all.
	Tail int
	// Since drops entries older than Since.
	Since time.Time
	// Follow keeps reading new entries until Done reports true after the
	// end of the file was reached.
	Follow bool
	// Done tells a follower that no more entries will come.
	Done func() bool
	// Poll is the follow interval; zero means 100 ms.
	Poll time.Duration
}

// ReadLog calls fn for the entries of the log at path (rotated files
// first), as selected by opts.
func ReadLog(ctx context.Context, path string, opts LogOptions, fn func(LogEntry) error) error {
	var entries []LogEntry
	keep := func(e LogEntry) error {
		if !opts.Since.IsZero() && e.Time.Before(opts.Since) {
			return nil
		}
		if opts.Tail >= 0 {
			entries = append(entries, e)
			if len(entries) > opts.Tail {
				entries = entries[1:]
			}
			return nil
		}
		return fn(e)
	}
	for _, rotated := range rotatedLogs(path) {
		if err := readEntries(rotated, keep); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("read log: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	var partial []byte
	readAll := func() error {
		for {
			line, err := r.ReadBytes('\n')
			if err == io.EOF {
				partial = append(partial, line...)
				return nil
			}
			if err != nil {
				return err
			}
			if len(partial) > 0 {
				line = append(partial, line...)
				partial = nil
			}
			var e LogEntry
			if json.Unmarshal(line, &e) != nil {
				continue
			}
			if err := keep(e); err != nil {
				return err
			}
		}
	}
	if err := readAll(); err != nil {
		return err
	}
	for _, e := range entries {
		if err := fn(e); err != nil {
			return err
		}
	}
	if !opts.Follow {
		return nil
	}
	opts.Tail = -1
	poll := opts.Poll
	if poll == 0 {
		poll = 100 * time.Millisecond
	}
	for {
		done := opts.Done != nil && opts.Done()
		if err := readAll(); err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}

// rotatedLogs lists path.N files, oldest (highest N) first.
func rotatedLogs(path string) []string {
	matches, _ := filepath.Glob(path + ".*")
	type numbered struct {
		n    int
		path string
	}
	var files []numbered
	for _, m := range matches {
		if n, err := strconv.Atoi(strings.TrimPrefix(m, path+".")); err == nil && n > 0 {
			files = append(files, numbered{n, m})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].n > files[j].n })
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.path
	}
	return out
}

func readEntries(path string, fn func(LogEntry) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e LogEntry
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return sc.Err()
}
