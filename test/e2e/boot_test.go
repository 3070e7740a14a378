package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bootRecord is what the boot tests read of `inspect CONTAINER`.
type bootRecord struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	BootPriority *int     `json:"bootPriority"`
	DependsOn    []string `json:"dependsOn"`
	State        struct {
		Status     string    `json:"status"`
		Pid        int       `json:"pid"`
		MonitorPid int       `json:"monitorPid"`
		StartedAt  time.Time `json:"startedAt"`
		FinishedAt time.Time `json:"finishedAt"`
	} `json:"state"`
}

func (e *env) bootRecord(name string) bootRecord {
	e.t.Helper()
	r := e.must("inspect", name)
	var recs []bootRecord
	if err := json.Unmarshal([]byte(r.stdout), &recs); err != nil || len(recs) != 1 {
		e.t.Fatalf("inspect %s: %v: %s", name, err, r.stdout)
	}
	return recs[0]
}

// lines splits a command's output into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// bootEdges are the dependencies TestBootOrder declares: dependent, dependency.
var bootEdges = [][2]string{{"app", "pg"}, {"app", "cache"}, {"web", "app"}}

// checkStartOrder fails when a container's process started, by the
// records, before that of a container it depends on.
func checkStartOrder(t *testing.T, e *env) {
	t.Helper()
	for _, edge := range bootEdges {
		dep, on := e.bootRecord(edge[0]), e.bootRecord(edge[1])
		if dep.State.Status != "running" || on.State.Status != "running" {
			t.Errorf("%s is %s, %s is %s after boot", dep.Name, dep.State.Status, on.Name, on.State.Status)
			continue
		}
		if dep.State.StartedAt.Before(on.State.StartedAt) {
			t.Errorf("%s started at %s, before %s it depends on (%s)", dep.Name, dep.State.StartedAt, on.Name, on.State.StartedAt)
		}
	}
}

// checkStopOrder fails when a container stopped, by the records, after a
// container it depends on.
func checkStopOrder(t *testing.T, e *env) {
	t.Helper()
	for _, edge := range bootEdges {
		dep, on := e.bootRecord(edge[0]), e.bootRecord(edge[1])
		if dep.State.Status != "exited" || on.State.Status != "exited" {
			t.Errorf("%s is %s, %s is %s after shutdown", dep.Name, dep.State.Status, on.Name, on.State.Status)
			continue
		}
		if dep.State.FinishedAt.After(on.State.FinishedAt) {
			t.Errorf("%s stopped at %s, after %s it depends on (%s)", dep.Name, dep.State.FinishedAt, on.Name, on.State.FinishedAt)
		}
	}
}

// TestBootOrder: boot starts by dependency then priority, one at a time
// and several at once, shutdown stops in the reverse order, a cycle or an
// unknown dependency is refused with nothing changed, and after a crash
// (every monitor and process killed) boot brings all back in order.
func TestBootOrder(t *testing.T) {
	e, ref := ctrEnv(t)
	mk := func(name string, args ...string) {
		t.Helper()
		e.must(append(append([]string{"create", "--name", name, "--restart", "always"}, args...), ref, "sleep", "1h")...)
	}
	mk("pg", "--boot-priority", "90")
	mk("cache", "--boot-priority", "10")
	mk("app", "--boot-priority", "5", "--depends-on", "pg", "--depends-on", "cache")
	mk("web", "--boot-priority", "1", "--depends-on", "app")
	mk("cron", "--boot-priority", "20")
	mk("late", "--boot-priority", "99")
	mk("plain") // the default priority, 50
	wantBoot := []string{"cache", "cron", "plain", "pg", "late", "app", "web"}
	wantShutdown := slices.Clone(wantBoot)
	slices.Reverse(wantShutdown)

	if rec := e.bootRecord("app"); rec.BootPriority == nil || *rec.BootPriority != 5 || len(rec.DependsOn) != 2 {
		t.Errorf("app's record: priority %v, dependencies %v", rec.BootPriority, rec.DependsOn)
	}

	t.Run("refused", func(t *testing.T) {
		before := len(e.ps())
		tests := []struct {
			args []string
			want []string
		}{
			{[]string{"update", "--depends-on", "web", "pg"}, []string{"cycle", "pg", "web"}},
			{[]string{"update", "--depends-on", "pg", "pg"}, []string{"pg", "itself"}},
			{[]string{"update", "--depends-on", "nosuch", "cron"}, []string{`"nosuch"`, "no such container"}},
			{[]string{"create", "--name", "orphan", "--depends-on", "nosuch", ref}, []string{`"nosuch"`, "no such container"}},
			{[]string{"update", "--boot-priority", "3", "nosuch"}, []string{`"nosuch"`}},
			{[]string{"update", "pg"}, []string{"nothing to change"}},
			{[]string{"boot", "--parallel", "0"}, []string{"--parallel 0"}},
		}
		for _, tt := range tests {
			r := e.run(tt.args...)
			if r.code == 0 {
				t.Errorf("%v succeeded: %s", tt.args, r)
				continue
			}
			msg := strings.TrimSpace(r.stderr)
			if strings.Count(msg, "\n") > 0 {
				t.Errorf("%v: error on more than one line: %q", tt.args, msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%v: error %q does not say %q", tt.args, msg, w)
				}
			}
		}
		if rec := e.bootRecord("pg"); len(rec.DependsOn) != 0 || *rec.BootPriority != 90 {
			t.Errorf("pg changed by refused updates: %+v", rec)
		}
		if after := len(e.ps()); after != before {
			t.Errorf("%d containers after refused commands, %d before", after, before)
		}
	})

	t.Run("one at a time", func(t *testing.T) {
		if got := lines(e.must("boot", "--parallel", "1").stdout); !slices.Equal(got, wantBoot) {
			t.Errorf("boot order %v, want %v", got, wantBoot)
		}
		checkStartOrder(t, e)
		var prev time.Time
		for _, n := range wantBoot {
			rec := e.bootRecord(n)
			if rec.State.StartedAt.Before(prev) {
				t.Errorf("%s started at %s, before the one booted ahead of it (%s)", n, rec.State.StartedAt, prev)
			}
			prev = rec.State.StartedAt
		}
		if got := lines(e.must("shutdown", "--parallel", "1", "-t", "2").stdout); !slices.Equal(got, wantShutdown) {
			t.Errorf("shutdown order %v, want %v", got, wantShutdown)
		}
		checkStopOrder(t, e)
	})

	t.Run("several at once", func(t *testing.T) {
		got := lines(e.must("boot", "--parallel", "4").stdout)
		if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(wantBoot))) {
			t.Errorf("boot started %v, want %v", got, wantBoot)
		}
		for _, edge := range bootEdges {
			if slices.Index(got, edge[0]) < slices.Index(got, edge[1]) {
				t.Errorf("boot printed %s before %s it depends on: %v", edge[0], edge[1], got)
			}
		}
		checkStartOrder(t, e)
		got = lines(e.must("shutdown", "--parallel", "4", "-t", "2").stdout)
		for _, edge := range bootEdges {
			if slices.Index(got, edge[0]) > slices.Index(got, edge[1]) {
				t.Errorf("shutdown printed %s after %s it depends on: %v", edge[0], edge[1], got)
			}
		}
		checkStopOrder(t, e)
	})

	t.Run("update", func(t *testing.T) {
		// late now comes first among the independent ones, and after web.
		e.must("update", "--boot-priority", "0", "--depends-on", "web", "late")
		e.must("update", "--restart", "no", "plain")
		want := []string{"cache", "cron", "pg", "app", "web", "late"}
		if got := lines(e.must("boot", "--parallel", "1").stdout); !slices.Equal(got, want) {
			t.Errorf("boot order after update %v, want %v", got, want)
		}
		e.must("update", "--depends-on", "", "--restart", "always", "late", "plain")
		if rec := e.bootRecord("late"); len(rec.DependsOn) != 0 {
			t.Errorf("--depends-on \"\" left %v", rec.DependsOn)
		}
	})

	t.Run("after a crash", func(t *testing.T) {
		e.run("boot") // whatever the update test left stopped
		for _, n := range wantBoot {
			rec := e.bootRecord(n)
			if rec.State.Status != "running" {
				t.Fatalf("%s is %s before the crash", n, rec.State.Status)
			}
			syscall.Kill(rec.State.MonitorPid, syscall.SIGKILL)
			syscall.Kill(rec.State.Pid, syscall.SIGKILL)
		}
		eventually(t, 10*time.Second, "every container to be seen exited", func() bool {
			for _, p := range e.ps() {
				if p.State.Status != "exited" {
					return false
				}
			}
			return true
		})
		got := lines(e.must("boot", "--parallel", "3").stdout)
		if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(wantBoot))) {
			t.Errorf("boot after a crash started %v, want %v", got, wantBoot)
		}
		checkStartOrder(t, e)
	})
}

// TestBootMissingDependency: a container whose dependency is neither
// running nor brought back at boot is not started, and boot says why,
// naming both; what does not depend on it still starts.
func TestBootMissingDependency(t *testing.T) {
	e, ref := ctrEnv(t)
	e.must("create", "--name", "other", ref, "sleep", "1h")
	e.must("create", "--name", "needy", "--restart", "always", "--depends-on", "other", ref, "sleep", "1h")
	e.must("create", "--name", "free", "--restart", "always", ref, "sleep", "1h")
	r := e.run("boot")
	if r.code == 0 {
		t.Fatalf("boot succeeded: %s", r)
	}
	if !strings.Contains(r.stderr, "needy") || !strings.Contains(r.stderr, "other") {
		t.Errorf("boot's error %q names neither needy nor other", r.stderr)
	}
	if got := lines(r.stdout); !slices.Equal(got, []string{"free"}) {
		t.Errorf("boot started %v, want [free]", got)
	}
	if p := e.psOne("needy"); p.State.Status == "running" {
		t.Errorf("needy runs without other")
	}
	// Once other runs, needy boots.
	e.must("start", "other")
	if got := lines(e.must("boot").stdout); !slices.Equal(got, []string{"needy"}) {
		t.Errorf("boot with other running started %v, want [needy]", got)
	}
}

// TestCompletion: the bash completion script, sourced into bash, completes
// a container's name after `start`, an image after `run`, a network after
// `network rm`, a volume after `volume rm` and a container after `--depends-on`, from the store that
// the line's global flags name.
func TestCompletion(t *testing.T) {
	need(t, "bash")
	e, ref := ctrEnv(t)
	e.must("create", "--name", "webby", ref, "sleep", "1h")
	e.must("network", "create", "compnet")
	e.must("volume", "create", "compvol")
	globals := e.globals()
	complete := func(words ...string) []string {
		t.Helper()
		line := append(append([]string{"stockade"}, globals...), words...)
		var quoted []string
		for _, w := range line {
			quoted = append(quoted, "'"+w+"'")
		}
		script := `source <(stockade completion bash) || exit 1
complete -p stockade >&2 || exit 1
COMP_WORDS=(` + strings.Join(quoted, " ") + `)
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
_stockade
printf '%s\n' "${COMPREPLY[@]}"`
		cmd := exec.Command("bash", "-c", script)
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(stockadeBin)+":"+os.Getenv("PATH"))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("bash completion of %v: %v", words, err)
		}
		return lines(string(out))
	}
	host, rest, _ := strings.Cut(ref, ":")
	tests := []struct {
		words []string
		want  string
	}{
		{[]string{"start", ""}, "webby"},
		{[]string{"start", "we"}, "webby"},
		{[]string{"run", "--rm", ""}, ref},
		// bash splits 127.0.0.1:PORT/e2e/ctr at the colon, and replaces
		// only what follows it.
		{[]string{"run", "--rm", host, ":", rest[:strings.Index(rest, "/")+1]}, rest},
		{[]string{"network", "rm", ""}, "compnet"},
		{[]string{"volume", "rm", ""}, "compvol"},
		{[]string{"create", "--depends-on", ""}, "webby"},
		{[]string{"net"}, "network"},
		{[]string{"boot", "--par"}, "--parallel"},
	}
	for _, tt := range tests {
		if got := complete(tt.words...); !slices.Contains(got, tt.want) {
			t.Errorf("stockade %s<TAB>: %q, want %q among them", strings.Join(tt.words, " "), got, tt.want)
		}
	}
	if got := complete("start", "zz"); len(got) != 0 {
		t.Errorf("stockade start zz<TAB>: %q, want nothing", got)
	}
}

// TestBootWaitsForHealthy: a container with a health check counts as
// ready for what depends on it only once the check passes, not when its
// process starts.
func TestBootWaitsForHealthy(t *testing.T) {
	e, ref := bbEnv(t)
	e.must("create", "--name", "slowdb", "--restart", "always", "--network", "none",
		"--health-cmd", "test -f /tmp/ok", "--health-interval", "200ms", "--health-timeout", "5s",
		ref, "sh", "-c", "sleep 2; touch /tmp/ok; exec sleep 3600")
	e.must("create", "--name", "client", "--restart", "always", "--network", "none", "--depends-on", "slowdb", ref, "sleep", "3600")
	if got := lines(e.must("boot", "--parallel", "4").stdout); !slices.Equal(got, []string{"slowdb", "client"}) {
		t.Errorf("boot started %v, want [slowdb client]", got)
	}
	db, client := e.bootRecord("slowdb"), e.bootRecord("client")
	if client.State.Status != "running" {
		t.Fatalf("client is %s", client.State.Status)
	}
	if wait := client.State.StartedAt.Sub(db.State.StartedAt); wait < 1500*time.Millisecond {
		t.Errorf("client started %s after slowdb, before slowdb's check could pass (2s)", wait)
	}
}

// TestShutdownStopSettings: shutdown stops each container with its own
// stop signal and stop timeout, whatever its --time says for the rest.
func TestShutdownStopSettings(t *testing.T) {
	e, ref := ctrEnv(t)
	e.must("run", "-d", "--name", "stubborn", "--restart", "always", "--stop-timeout", "1", ref, "ignore-term")
	// gentle ignores SIGTERM too: only its stop signal, SIGINT, ends it
	// before the 60 s of --time (its Go runtime then exits 2, being pid 1).
	e.must("run", "-d", "--name", "gentle", "--restart", "always", "--stop-signal", "SIGINT", ref, "ignore-term")
	start := time.Now()
	got := lines(e.must("shutdown", "--parallel", "2", "--time", "60").stdout)
	took := time.Since(start)
	if !slices.Equal(slices.Sorted(slices.Values(got)), []string{"gentle", "stubborn"}) {
		t.Errorf("shutdown stopped %v", got)
	}
	if took > 20*time.Second {
		t.Errorf("shutdown took %s: stubborn's own 1 s stop timeout or gentle's SIGINT was not used", took)
	}
	var codes struct {
		State struct {
			ExitCode int `json:"exitCode"`
		} `json:"state"`
	}
	for name, want := range map[string]int{"stubborn": 137, "gentle": 2} {
		var recs []json.RawMessage
		if err := json.Unmarshal([]byte(e.must("inspect", name).stdout), &recs); err != nil || len(recs) != 1 {
			t.Fatalf("inspect %s: %v", name, err)
		}
		if err := json.Unmarshal(recs[0], &codes); err != nil {
			t.Fatal(err)
		}
		if codes.State.ExitCode != want {
			t.Errorf("%s exited %d after shutdown, want %d", name, codes.State.ExitCode, want)
		}
	}
}

// TestRemoveDependency: rm of a container that another depends on is
// refused, naming the dependent, and removes nothing (as podman refuses
// it); rm -f removes it. system prune removes a stopped dependency after
// its stopped dependents, and keeps one that a running container needs.
func TestRemoveDependency(t *testing.T) {
	e, ref := ctrEnv(t)
	e.must("create", "--name", "store", ref, "sleep", "1h")
	e.must("create", "--name", "web", "--depends-on", "store", ref, "sleep", "1h")
	r := e.run("rm", "store")
	if r.code != 125 || !strings.Contains(r.stderr, "remove store: other containers depend on it: web") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("rm of a dependency: %s", r)
	}
	if p := e.psOne("store"); p.Name != "store" {
		t.Fatalf("store gone after a refused rm: %+v", p)
	}
	// prune: web (stopped) goes first, then store, in one prune.
	e.must("system", "prune", "-f")
	if ps := e.ps(); len(ps) != 0 {
		t.Errorf("prune left %+v", ps)
	}
	// A running dependent keeps its stopped dependency through prune.
	e.must("create", "--name", "store2", ref, "sleep", "1h")
	e.must("run", "-d", "--name", "web2", "--depends-on", "store2", ref, "sleep", "1h")
	e.must("system", "prune", "-f")
	if p := e.psOne("store2"); p.Name != "store2" {
		t.Errorf("prune removed store2, which running web2 depends on")
	}
	e.must("rm", "-f", "store2")
	if p := e.psOne("web2"); p.State.Status != "running" {
		t.Errorf("web2 after rm -f of its dependency: %+v", p.State)
	}
}
