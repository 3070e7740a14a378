package phase

import (
	"slices"
	"testing"
	"time"
)

func TestSeries(t *testing.T) {
	var s Series
	if s.Median("none") != 0 || s.Runs("none") != 0 {
		t.Error("an empty series has a median or runs")
	}
	ms := time.Millisecond
	for _, run := range [][]Record{
		{{Name: "create", Dur: 3 * ms}, {Name: "mount", Dur: ms}, {Name: "mount", Dur: ms}},
		{{Name: "create", Dur: 5 * ms}, {Name: "mount", Dur: 4 * ms}, {Name: "delete", Dur: ms}},
		{{Name: "create", Dur: 4 * ms}, {Name: "mount", Dur: 3 * ms}},
	} {
		s.AddRun(run)
	}
	if got, want := s.Names(), []string{"create", "mount", "delete"}; !slices.Equal(got, want) {
		t.Errorf("names %q, want %q (first-seen order)", got, want)
	}
	for _, tt := range []struct {
		name string
		runs int
		med  time.Duration
	}{
		{"create", 3, 4 * ms},
		{"mount", 3, 3 * ms}, // 2 (summed), 4, 3
		{"delete", 1, ms},
	} {
		if s.Runs(tt.name) != tt.runs || s.Median(tt.name) != tt.med {
			t.Errorf("%s: %d runs, median %v; want %d, %v", tt.name, s.Runs(tt.name), s.Median(tt.name), tt.runs, tt.med)
		}
	}
	s.Add("create", 10*ms) // even count: the upper middle
	if s.Median("create") != 5*ms {
		t.Errorf("median of 3,5,4,10 ms = %v, want 5ms", s.Median("create"))
	}
}
