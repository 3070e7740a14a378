package engine

import (
	"testing"
	"time"
)

func TestParseRestartPolicy(t *testing.T) {
	tests := []struct {
		in      string
		want    RestartPolicy
		wantErr string
	}{
		{"", RestartPolicy{Name: "no"}, ""},
		{"no", RestartPolicy{Name: "no"}, ""},
		{"always", RestartPolicy{Name: "always"}, ""},
		{"unless-stopped", RestartPolicy{Name: "unless-stopped"}, ""},
		{"on-failure", RestartPolicy{Name: "on-failure"}, ""},
		{"on-failure:3", RestartPolicy{Name: "on-failure", MaxRetries: 3}, ""},
		{"on-failure:x", RestartPolicy{}, `--restart "on-failure:x": the retry count must be a number >= 0`},
		{"on-failure:-1", RestartPolicy{}, `--restart "on-failure:-1": the retry count must be a number >= 0`},
		{"always:2", RestartPolicy{}, `--restart "always:2": only on-failure takes a retry count`},
		{"sometimes", RestartPolicy{}, `--restart "sometimes": not one of no, on-failure[:N], always, unless-stopped`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRestartPolicy(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v", got, err)
			}
			if back, _ := ParseRestartPolicy(got.String()); back != got {
				t.Errorf("String() %q does not parse back", got.String())
			}
		})
	}
}

func TestShouldRestart(t *testing.T) {
	tests := []struct {
		policy   string
		code     int
		restarts int
		stopped  bool
		want     bool
	}{
		{"no", 1, 0, false, false},
		{"always", 0, 100, false, true},
		{"always", 1, 0, true, false},
		{"unless-stopped", 0, 0, false, true},
		{"unless-stopped", 0, 0, true, false},
		{"on-failure", 0, 0, false, false},
		{"on-failure", 2, 50, false, true},
		{"on-failure:2", 1, 1, false, true},
		{"on-failure:2", 1, 2, false, false},
		{"on-failure:2", 137, 0, true, false},
	}
	for _, tt := range tests {
		p, err := ParseRestartPolicy(tt.policy)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.ShouldRestart(tt.code, tt.restarts, tt.stopped); got != tt.want {
			t.Errorf("%s code=%d restarts=%d stopped=%t: got %t", tt.policy, tt.code, tt.restarts, tt.stopped, got)
		}
	}
}

func TestRestartOnBoot(t *testing.T) {
	tests := []struct {
		policy                  string
		wasRunning, userStopped bool
		want                    bool
	}{
		{"no", true, false, false},
		{"always", false, true, true},
		{"unless-stopped", true, false, true},
		{"unless-stopped", false, true, false},
		{"on-failure", true, false, true},
		{"on-failure", false, false, false},
	}
	for _, tt := range tests {
		p, _ := ParseRestartPolicy(tt.policy)
		if got := p.RestartOnBoot(tt.wasRunning, tt.userStopped); got != tt.want {
			t.Errorf("%s running=%t stopped=%t: got %t", tt.policy, tt.wasRunning, tt.userStopped, got)
		}
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}
	for i, w := range want {
		if got := Backoff(i); got != w {
			t.Errorf("Backoff(%d) = %v, want %v", i, got, w)
		}
	}
	if got := Backoff(50); got != time.Minute {
		t.Errorf("Backoff(50) = %v, want the one-minute cap", got)
	}
}
