package engine

import (
	"strings"
	"testing"
	"time"
)

func TestHealthRecord(t *testing.T) {
	ok := HealthResult{ExitCode: 0}
	bad := HealthResult{ExitCode: 1}
	tests := []struct {
		name    string
		retries int
		results []HealthResult
		inStart []bool
		want    []string // status after each result
		streak  int
	}{
		{"healthy at once", 0, []HealthResult{ok}, nil, []string{HealthHealthy}, 0},
		{"default three failures", 0, []HealthResult{bad, bad, bad}, nil, []string{HealthStarting, HealthStarting, HealthUnhealthy}, 3},
		{"one retry", 1, []HealthResult{bad}, nil, []string{HealthUnhealthy}, 1},
		{"unhealthy then healthy", 2, []HealthResult{bad, bad, ok, bad}, nil, []string{HealthStarting, HealthUnhealthy, HealthHealthy, HealthHealthy}, 1},
		{"start period forgives", 1, []HealthResult{bad, bad, bad}, []bool{true, true, false}, []string{HealthStarting, HealthStarting, HealthUnhealthy}, 1},
		{"start period ends at first success", 1, []HealthResult{ok, bad}, []bool{true, true}, []string{HealthHealthy, HealthUnhealthy}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h HealthState
			cfg := HealthConfig{Test: []string{"CMD", "x"}, Retries: tt.retries}
			for i, r := range tt.results {
				in := tt.inStart != nil && tt.inStart[i]
				h.Record(cfg, r, in)
				if h.Status != tt.want[i] {
					t.Fatalf("after result %d: %s, want %s", i, h.Status, tt.want[i])
				}
			}
			if h.FailingStreak != tt.streak {
				t.Errorf("streak %d, want %d", h.FailingStreak, tt.streak)
			}
		})
	}
}

func TestHealthLogKeepsFive(t *testing.T) {
	var h HealthState
	cfg := HealthConfig{Test: []string{"CMD", "x"}}
	for i := range 8 {
		h.Record(cfg, HealthResult{ExitCode: i}, false)
	}
	if len(h.Log) != 5 || h.Log[0].ExitCode != 3 || h.Log[4].ExitCode != 7 {
		t.Fatalf("log %+v, want exit codes 3..7", h.Log)
	}
}

func TestMergeHealthConfig(t *testing.T) {
	img := &HealthConfig{Test: []string{"CMD", "check"}, Interval: time.Minute, Retries: 5}
	got := MergeHealthConfig(img, &HealthConfig{Interval: time.Second})
	if got.Test[1] != "check" || got.Interval != time.Second || got.Retries != 5 {
		t.Errorf("merge timing only: %+v", got)
	}
	got = MergeHealthConfig(img, &HealthConfig{Test: []string{"CMD-SHELL", "true"}})
	if got.Test[0] != "CMD-SHELL" || got.Interval != time.Minute {
		t.Errorf("merge command: %+v", got)
	}
	if got := MergeHealthConfig(img, &HealthConfig{Test: []string{"NONE"}}); got.Enabled() {
		t.Errorf("--no-healthcheck: %+v is enabled", got)
	}
	if got := MergeHealthConfig(nil, &HealthConfig{Interval: time.Second}); got != nil {
		t.Errorf("timings without a test: %+v", got)
	}
	if img.Interval != time.Minute {
		t.Error("merge changed the image's config")
	}
}

func TestHealthArgs(t *testing.T) {
	tests := []struct {
		test    []string
		want    string
		wantErr string
	}{
		{[]string{"CMD", "/bin/check", "-q"}, "/bin/check -q", ""},
		{[]string{"CMD-SHELL", "test -f /ok"}, "/bin/sh -c test -f /ok", ""},
		{[]string{"NONE"}, "", "no health check"},
		{[]string{"CMD"}, "", "no command"},
		{[]string{"BOGUS", "x"}, "", `"BOGUS"`},
	}
	for _, tt := range tests {
		h := &HealthConfig{Test: tt.test}
		args, err := h.Args()
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v, want %q", tt.test, err, tt.wantErr)
			}
			continue
		}
		if err != nil || strings.Join(args, " ") != tt.want {
			t.Errorf("%q: %q, %v; want %q", tt.test, args, err, tt.want)
		}
	}
}

func TestParseImageHealthcheck(t *testing.T) {
	cfg := `{"architecture":"amd64","config":{"Healthcheck":{"Test":["CMD-SHELL","curl -f localhost"],"Interval":5000000000,"Retries":2}}}`
	h, err := parseImageHealthcheck([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if h.Test[1] != "curl -f localhost" || h.Interval != 5*time.Second || h.Retries != 2 || h.Timeout != 0 {
		t.Errorf("%+v", h)
	}
	if h, err := parseImageHealthcheck([]byte(`{"config":{}}`)); h != nil || err != nil {
		t.Errorf("no HEALTHCHECK: %+v, %v", h, err)
	}
	if _, err := parseImageHealthcheck([]byte(`{"config":{"Healthcheck":{"Test":["WHAT"]}}}`)); err == nil {
		t.Error("a bad test was accepted")
	}
}

func TestStateSummary(t *testing.T) {
	now := time.Now()
	up := State{Status: StatusRunning, StartedAt: now.Add(-5 * time.Second)}
	tests := []struct {
		s    State
		want string
	}{
		{up, "Up 5 seconds"},
		{withHealth(up, HealthStarting), "Up 5 seconds (health: starting)"},
		{withHealth(up, HealthHealthy), "Up 5 seconds (healthy)"},
		{withHealth(up, HealthUnhealthy), "Up 5 seconds (unhealthy)"},
		{State{Status: StatusRunning, StartedAt: up.StartedAt, Paused: true, Health: &HealthState{Status: HealthHealthy}}, "Up 5 seconds (Paused)"},
		{withHealth(State{Status: StatusExited, ExitCode: 1}, HealthUnhealthy), "Exited (1)"},
	}
	for _, tt := range tests {
		if got := tt.s.Summary(now); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.s, got, tt.want)
		}
	}
}

func withHealth(s State, status string) State {
	s.Health = &HealthState{Status: status}
	return s
}

func TestHealthy(t *testing.T) {
	hc := &HealthConfig{Test: []string{"CMD", "x"}}
	tests := []struct {
		name string
		c    Container
		want bool
	}{
		{"running, no check", Container{State: State{Status: StatusRunning}}, true},
		{"exited", Container{State: State{Status: StatusExited}}, false},
		{"paused", Container{State: State{Status: StatusRunning, Paused: true}}, false},
		{"check starting", Container{Healthcheck: hc, State: State{Status: StatusRunning, Health: &HealthState{Status: HealthStarting}}}, false},
		{"check healthy", Container{Healthcheck: hc, State: State{Status: StatusRunning, Health: &HealthState{Status: HealthHealthy}}}, true},
		{"check disabled", Container{Healthcheck: &HealthConfig{Test: []string{"NONE"}}, State: State{Status: StatusRunning}}, true},
	}
	for _, tt := range tests {
		if got := tt.c.Healthy(); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
