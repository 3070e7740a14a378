package engine

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stockade/stockade/zfs"
)

func TestReconcile(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name                string
		in                  State
		monitorAlive, alive bool
		wantStatus          Status
		wantCode            int
	}{
		{"running with monitor", State{Status: StatusRunning, Pid: 10}, true, true, StatusRunning, 0},
		{"monitor killed, process gone", State{Status: StatusRunning, Pid: 10}, false, false, StatusExited, -1},
		{"monitor killed, process still there", State{Status: StatusRunning, Pid: 10}, false, true, StatusRunning, 0},
		{"restarting, monitor gone", State{Status: StatusRestarting, ExitCode: 3}, false, false, StatusExited, 3},
		{"exited stays exited", State{Status: StatusExited, ExitCode: 2}, false, false, StatusExited, 2},
		{"created stays created", State{Status: StatusCreated}, false, false, StatusCreated, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in.Reconcile(tt.monitorAlive, tt.alive, now)
			if got.Status != tt.wantStatus || got.ExitCode != tt.wantCode {
				t.Errorf("got %s (%d), want %s (%d)", got.Status, got.ExitCode, tt.wantStatus, tt.wantCode)
			}
			if got.Status == StatusExited && tt.in.Status != StatusExited && (got.Pid != 0 || got.FinishedAt != now) {
				t.Errorf("exited state keeps pid %d or lacks finish time %v", got.Pid, got.FinishedAt)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		s    State
		want string
	}{
		{State{Status: StatusRunning, StartedAt: now.Add(-90 * time.Second)}, "Up About a minute"},
		{State{Status: StatusRunning, StartedAt: now.Add(-1 * time.Second)}, "Up 1 second"},
		{State{Status: StatusRunning, StartedAt: now.Add(-22 * time.Second)}, "Up 22 seconds"},
		{State{Status: StatusRunning, StartedAt: now.Add(-300 * time.Millisecond)}, "Up Less than a second"},
		{State{Status: StatusRunning, StartedAt: now.Add(-5 * time.Minute)}, "Up 5 minutes"},
		{State{Status: StatusRunning, StartedAt: now.Add(-70 * time.Minute)}, "Up About an hour"},
		{State{Status: StatusRunning, StartedAt: now.Add(-5 * time.Hour)}, "Up 5 hours"},
		{State{Status: StatusRunning, StartedAt: now.Add(-72 * time.Hour)}, "Up 3 days"},
		{State{Status: StatusRunning, StartedAt: now.Add(-21 * 24 * time.Hour)}, "Up 3 weeks"},
		{State{Status: StatusExited, ExitCode: 0, FinishedAt: now.Add(-61 * time.Second)}, "Exited (0) About a minute ago"},
		{State{Status: StatusExited, ExitCode: 3, FinishedAt: now.Add(-5 * time.Second)}, "Exited (3) 5 seconds ago"},
		{State{Status: StatusCreated}, "Created"},
		{State{Status: StatusRestarting, ExitCode: 1}, "Restarting (1)"},
	}
	for _, tt := range tests {
		if got := tt.s.Describe(now); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"web", "web-1", "a.b_c", "X9"} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-web", "a/b", "a b", "abc123", strings.Repeat("a", 129)} {
		if err := ValidateName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestResolve(t *testing.T) {
	all := []*Container{
		{ID: "abc111" + strings.Repeat("0", 58), Name: "web"},
		{ID: "abc222" + strings.Repeat("0", 58), Name: "db"},
		{ID: "def333" + strings.Repeat("0", 58), Name: "abc1"},
	}
	tests := []struct {
		ref     string
		want    string
		wantErr error
	}{
		{"web", "web", nil},
		{"abc1", "abc1", nil}, // an exact name wins over an id prefix
		{"abc2", "db", nil},
		{"def", "abc1", nil},
		{"abc", "", ErrAmbiguous},
		{"nope", "", ErrNoSuchContainer},
		{all[1].ID, "db", nil},
	}
	for _, tt := range tests {
		got, err := Resolve(all, tt.ref)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("%q: error %v, want %v", tt.ref, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.Name != tt.want {
			t.Errorf("%q: got %v, %v", tt.ref, got, err)
		}
	}
}

func TestIDsAndNames(t *testing.T) {
	id, err := NewID()
	if err != nil || len(id) != 64 || !isHex(id) {
		t.Fatalf("NewID = %q, %v", id, err)
	}
	name := GenerateName(id)
	if err := ValidateName(name); err != nil {
		t.Errorf("generated name %q is invalid: %v", name, err)
	}
}

// The zfs snapshotter reads these labels under the same names.
func TestStorageLabelsMatchZFS(t *testing.T) {
	if LabelContainer != zfs.LabelContainer || LabelStorageSize != zfs.LabelSize {
		t.Errorf("engine labels %q/%q differ from zfs's %q/%q", LabelContainer, LabelStorageSize, zfs.LabelContainer, zfs.LabelSize)
	}
}
