package phase

import (
	"slices"
	"time"
)

// Series gathers the durations of named phases (or steps) over repeated
// runs, in the order the names first came, for benchmarks that report a
// median per phase. The zero Series is empty and ready.
type Series struct {
	names []string
	runs  map[string][]time.Duration
}

// Add records one run's duration of name.
func (s *Series) Add(name string, d time.Duration) {
	if s.runs == nil {
		s.runs = map[string][]time.Duration{}
	}
	if _, ok := s.runs[name]; !ok {
		s.names = append(s.names, name)
	}
	s.runs[name] = append(s.runs[name], d)
}

// AddRun records one run's phases: the durations of each name summed, a
// phase that ran several times in the run counting once.
func (s *Series) AddRun(recs []Record) {
	var order []string
	sums := map[string]time.Duration{}
	for _, r := range recs {
		if _, ok := sums[r.Name]; !ok {
			order = append(order, r.Name)
		}
		sums[r.Name] += r.Dur
	}
	for _, name := range order {
		s.Add(name, sums[name])
	}
}

// Names returns the names in the order they first came.
func (s *Series) Names() []string { return s.names }

// Runs returns how many runs recorded name.
func (s *Series) Runs(name string) int { return len(s.runs[name]) }

// Median returns the median of name's durations (the upper one of an
// even count), 0 when there is none.
func (s *Series) Median(name string) time.Duration {
	ds := s.runs[name]
	if len(ds) == 0 {
		return 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}
