package monitorio

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func validHandover() Handover {
	return Handover{
		Version: Version, ID: "abc123", Pid: 42, HealthPid: 43,
		Lock: 3, Listener: 4, Stdout: 5, Stderr: 6, Terminal: -1, Stdin: 7,
		Log:      LogConfig{Path: "/var/lib/stockade/containers/abc123/abc123-json.log", MaxSize: 10 << 20, MaxFiles: 3},
		Restarts: 2, RunStarted: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC),
		Resume: []string{"/usr/local/bin/stockade", "--root", "/r", "monitor", "abc123"},
		Forwarders: []Forwarder{
			{FD: 8, Hook: "network", Owner: "bridge", Proto: "tcp", Target: "[fd00:88::5]:80"},
			{FD: 9, Hook: "network", Owner: "bridge", Proto: "udp", Target: "10.88.0.5:53"},
		},
	}
}

func TestHandoverRoundTrip(t *testing.T) {
	h := validHandover()
	s, err := h.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeHandover(s)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != h.ID || got.Pid != h.Pid || got.HealthPid != h.HealthPid || got.Lock != 3 || got.Listener != 4 ||
		got.Stdout != 5 || got.Stderr != 6 || got.Terminal != -1 || got.Stdin != 7 || got.Log != h.Log ||
		got.Restarts != 2 || !got.RunStarted.Equal(h.RunStarted) || strings.Join(got.Resume, " ") != strings.Join(h.Resume, " ") {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, h)
	}
	if len(got.Forwarders) != 2 || got.Forwarders[0] != h.Forwarders[0] || got.Forwarders[1] != h.Forwarders[1] {
		t.Errorf("forwarders round trip: got %+v, want %+v", got.Forwarders, h.Forwarders)
	}

	h.Stderr, h.Stdin = -1, -1 // closed by the container, by a client
	if s, err := h.Encode(); err != nil {
		t.Errorf("without stderr and stdin: %v", err)
	} else if got, err := DecodeHandover(s); err != nil || got.Stderr != -1 || got.Stdin != -1 {
		t.Errorf("without stderr and stdin: %+v, %v", got, err)
	}

	r := Resume{ID: "abc123", Lock: 3, Listener: 8, HealthPid: 0, Restarts: 1, RunStarted: h.RunStarted, ExitCode: 137,
		Clients:    []Client{{FD: 9, Hello: &AttachHello{Stdin: true}}, {FD: 10}},
		Forwarders: []Forwarder{{FD: 11, Hook: "network", Owner: "bridge", Proto: "tcp", Target: "10.88.0.5:80"}}}
	rs, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	rgot, err := DecodeResume(rs)
	if err != nil {
		t.Fatal(err)
	}
	if rgot.ExitCode != 137 || rgot.Listener != 8 || len(rgot.Clients) != 2 || rgot.Clients[0].Hello == nil ||
		!rgot.Clients[0].Hello.Stdin || rgot.Clients[1].Hello != nil || rgot.Restarts != 1 ||
		len(rgot.Forwarders) != 1 || rgot.Forwarders[0] != r.Forwarders[0] {
		t.Errorf("resume round trip: got %+v", rgot)
	}
}

func TestHandoverRefused(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Handover)
		want   string
	}{
		{"version", func(h *Handover) { h.Version = 9 }, "handover version 9, want 1"},
		{"no id", func(h *Handover) { h.ID = "" }, "handover without a container id"},
		{"pid", func(h *Handover) { h.Pid = 0 }, "handover pid 0: not a process"},
		{"lock is stdin", func(h *Handover) { h.Lock = 0 }, "handover lock descriptor 0: want 3 or more"},
		{"no listener", func(h *Handover) { h.Listener = -1 }, "handover listener descriptor -1: want 3 or more"},
		{"stdout 2", func(h *Handover) { h.Stdout = 2 }, "handover stdout descriptor 2: want 3 or more"},
		{"terminal and pipes", func(h *Handover) { h.Terminal = 8 }, "handover with a terminal and output pipes"},
		{"log path", func(h *Handover) { h.Log.Path = "" }, "handover without a log path"},
		{"log limits", func(h *Handover) { h.Log.MaxFiles = 0 }, "handover log limits 10485760 bytes, 0 files: must be positive"},
		{"resume", func(h *Handover) { h.Resume = nil }, "handover without the command to resume"},
		{"forwarder fd", func(h *Handover) { h.Forwarders[1].FD = 2 }, "handover forwarder descriptor 2: want 3 or more"},
		{"forwarder proto", func(h *Handover) { h.Forwarders[0].Proto = "sctp" }, `handover forwarder protocol "sctp": want tcp or udp`},
		{"forwarder target", func(h *Handover) { h.Forwarders[0].Target = "10.88.0.5" }, `handover forwarder target "10.88.0.5": not an ip:port`},
		{"forwarder owner", func(h *Handover) { h.Forwarders[0].Owner = "" }, "handover forwarder to [fd00:88::5]:80 without its hook and owner"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := validHandover()
			tt.change(&h)
			b, _ := jsonOf(h)
			_, err := DecodeHandover(b)
			if err == nil || err.Error() != tt.want {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
	for _, s := range []string{"", "{", "[1]"} {
		_, err := DecodeHandover(s)
		if err == nil || !strings.HasPrefix(err.Error(), "handover description: ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: got %v", s, err)
		}
	}
	if _, err := DecodeResume(`{"version":1,"id":"x","lock":3,"listener":4,"clients":[{"fd":1}]}`); err == nil || err.Error() != "resume client descriptor 1: want 3 or more" {
		t.Errorf("resume with client fd 1: %v", err)
	}
	if _, err := DecodeResume(`{"version":1,"id":"x","lock":3,"listener":4,"forwarders":[{"fd":5,"hook":"network","owner":"b","proto":"tcp","target":"::1"}]}`); err == nil || !strings.HasPrefix(err.Error(), `resume forwarder target "::1": `) {
		t.Errorf("resume with a bad forwarder target: %v", err)
	}
	if _, err := DecodeResume(`{"version":1,"lock":3,"listener":4}`); err == nil || err.Error() != "resume without a container id" {
		t.Errorf("resume without id: %v", err)
	}
}

// jsonOf renders v without validating it, as a bad peer could.
func jsonOf(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
