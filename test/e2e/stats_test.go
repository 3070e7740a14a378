package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

type statsJSON struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	CPUPercent  float64 `json:"cpuPercent"`
	MemoryUsage uint64  `json:"memoryUsage"`
	MemoryLimit uint64  `json:"memoryLimit"`
	MemPercent  float64 `json:"memoryPercent"`
	NetRx       uint64  `json:"netRx"`
	NetTx       uint64  `json:"netTx"`
	PIDs        uint64  `json:"pids"`
}

func TestStats(t *testing.T) {
	reg := startRegistry(t)
	ref := busyboxImage(t, reg)
	e := newEnv(t)
	e.must("pull", "-q", ref)
	// A busy shell loop: CPU above zero; a 64 MiB limit.
	e.must("run", "-d", "--name", "busy", "--network", "none", "--memory", "64m", ref, "sh", "-c", "while :; do :; done")
	e.must("run", "-d", "--name", "idle", "--network", "none", ref, "sleep", "300")
	e.must("create", "--name", "never", "--network", "none", ref, "true")

	r := e.must("stats", "--no-stream", "--format", "json")
	var rows []statsJSON
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("stats json: %v: %s", err, r.stdout)
	}
	byName := map[string]statsJSON{}
	for _, s := range rows {
		byName[s.Name] = s
	}
	if len(rows) != 2 {
		t.Errorf("stats lists %d containers, want the 2 running: %s", len(rows), r.stdout)
	}
	busy, idle := byName["busy"], byName["idle"]
	if busy.MemoryUsage == 0 || idle.MemoryUsage == 0 {
		t.Errorf("memory usage zero: %s", r.stdout)
	}
	if busy.MemoryLimit != 64<<20 {
		t.Errorf("busy's memory limit %d, want 64 MiB", busy.MemoryLimit)
	}
	if idle.MemoryLimit <= 64<<20 {
		t.Errorf("idle's limit %d, want the host's memory", idle.MemoryLimit)
	}
	if busy.PIDs < 1 || idle.PIDs < 1 {
		t.Errorf("pids: %s", r.stdout)
	}
	if busy.CPUPercent < 10 {
		t.Errorf("a busy loop's CPU %.2f%%, want well above 0", busy.CPUPercent)
	}
	if busy.MemPercent <= 0 || busy.MemPercent > 100 {
		t.Errorf("busy's memory percentage %.2f", busy.MemPercent)
	}

	// -a also lists stopped containers, with zeros; names pick.
	r = e.must("stats", "--no-stream", "-a", "--format", "{{.Name}} {{.PIDs}}")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 3 || !strings.Contains(r.stdout, "never 0\n") {
		t.Errorf("stats -a with a template: %q", r.stdout)
	}
	r = e.must("stats", "--no-stream", "idle")
	if !strings.HasPrefix(r.stdout, "CONTAINER ID") || !strings.Contains(r.stdout, "idle") || strings.Contains(r.stdout, "busy") || !strings.Contains(r.stdout, "iB / ") {
		t.Errorf("stats idle: %q", r.stdout)
	}
	// Streaming: a table a second until interrupted; no screen codes
	// without a terminal.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	r = e.runCtx(ctx, "stats", "idle")
	if n := strings.Count(r.stdout, "CONTAINER ID"); n < 2 || strings.Contains(r.stdout, "\033[") {
		t.Errorf("streaming stats printed %d tables in 3s: %q", n, r.stdout)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"stats", "--no-stream", "nosuch"}, `"nosuch": no such container`},
		{[]string{"stats", "--no-stream", "--format", "{{.Name"}, `--format "{{.Name"`},
	} {
		r := e.run(bad.args...)
		if r.code == 0 || !strings.Contains(r.stderr, bad.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("stockade %v: want one error line with %q: %s", bad.args, bad.want, r)
		}
	}
}
