//go:build freebsd

package freebsd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stockade/stockade/internal/phase"
)

// BenchmarkJailRuntime times a container's lifecycle on the host, each
// step a process of the runtime as containerd or the engine runs it:
// create from the suite's bundle (/bin/sleep 60 with devfs, fdescfs and a
// read-only nullfs), start, kill KILL, the wait until state says stopped
// (polled), delete. Sub-benchmarks:
//
//   - stockade-runtime: the lifecycle above; each step's wall time is a
//     metric (create-ms/op ...), and so is each phase the runtime appends
//     to STOCKADE_PHASE_FILE ("NN.create.jail_set-ns/op", the median per
//     lifecycle; see package jail), printed as a table as well;
//   - stockade-runtime-delete-force: create, start, delete --force (the
//     kill and its wait inside delete);
//   - runj: the same lifecycle with runj (its state under /var/lib/runj),
//     skipped when runj or runj-entrypoint is not in PATH
//     (pkg install runj).
//
// Run it as root on the host, as the suite runs:
//
//	sh test/freebsd/run.sh -run '^$' -bench JailRuntime -benchtime 20x
func BenchmarkJailRuntime(b *testing.B) {
	e := setup(b)
	bundle := writeBundle(b, e.rootfs, nil)
	stockade := func(timed bool) *cli {
		return &cli{bin: e.bin, global: []string{"--root", e.root}, id: fmt.Sprintf("it-bench-%d", os.Getpid()), timed: timed}
	}
	b.Run("stockade-runtime", func(b *testing.B) {
		benchLifecycle(b, stockade(true), bundle, false)
	})
	b.Run("stockade-runtime-delete-force", func(b *testing.B) {
		benchLifecycle(b, stockade(true), bundle, true)
	})
	b.Run("runj", func(b *testing.B) {
		bin, err := exec.LookPath("runj")
		if err != nil {
			b.Skip("runj is not installed (pkg install runj): only stockade-runtime was measured")
		}
		if _, err := exec.LookPath("runj-entrypoint"); err != nil {
			b.Skip("runj-entrypoint is not in PATH: runj cannot start a container")
		}
		benchLifecycle(b, &cli{bin: bin, id: fmt.Sprintf("it-bench-runj-%d", os.Getpid()), runj: true}, bundle, false)
	})
}

// cli runs one OCI runtime's commands on one container id.
type cli struct {
	bin    string
	global []string // flags before the command
	id     string
	runj   bool // runj's create takes the bundle as an argument
	// timed: the runtime appends its phases to phases (STOCKADE_PHASE_FILE).
	timed  bool
	phases string
}

// run runs the runtime with args and returns its standard output and how
// long it took, from the start of the process to its end. Its standard
// streams are files: the container's process inherits them from create.
func (c *cli) run(b *testing.B, args ...string) (string, time.Duration, error) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	stdout, stderr := benchScratch(b), benchScratch(b)
	defer os.Remove(stdout.Name())
	defer stdout.Close()
	defer os.Remove(stderr.Name())
	defer stderr.Close()
	cmd := exec.CommandContext(ctx, c.bin, append(slices.Clone(c.global), args...)...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env = os.Environ()
	start := time.Now()
	if c.timed && c.phases != "" {
		cmd.Env = append(cmd.Env, phase.EnvFile+"="+c.phases, phase.EnvStart+"="+strconv.FormatInt(start.UnixNano(), 10))
	}
	err := cmd.Run()
	took := time.Since(start)
	out, _ := os.ReadFile(stdout.Name())
	if err != nil {
		msg, _ := os.ReadFile(stderr.Name())
		return string(out), took, fmt.Errorf("%s %s: %w: %s", filepath.Base(c.bin), strings.Join(args, " "), err, strings.TrimSpace(string(msg)))
	}
	return string(out), took, nil
}

// benchScratch is a file for a command's output in the suite's scratch
// directory (b.TempDir cannot serve the cleanup's commands).
func benchScratch(b *testing.B) *os.File {
	b.Helper()
	f, err := os.CreateTemp(suite.dir, "bench-")
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// must runs the runtime and fails the benchmark when it fails.
func (c *cli) must(b *testing.B, args ...string) time.Duration {
	b.Helper()
	_, took, err := c.run(b, args...)
	if err != nil {
		b.Fatal(err)
	}
	return took
}

// waitStopped polls state until the container is stopped.
func (c *cli) waitStopped(b *testing.B) time.Duration {
	b.Helper()
	start := time.Now()
	deadline := start.Add(10 * time.Second)
	for {
		out, _, err := c.run(b, "state", c.id)
		if err != nil {
			b.Fatal(err)
		}
		var st specs.State
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			b.Fatalf("state %s: %v\n%s", c.id, err, out)
		}
		if st.Status == specs.StateStopped {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			b.Fatalf("container %s still %s 10s after kill KILL", c.id, st.Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// benchLifecycle runs the lifecycle b.N times and reports the median of
// each step's wall time and, for a timed runtime, of each phase.
func benchLifecycle(b *testing.B, c *cli, bundle string, force bool) {
	b.Cleanup(func() {
		// A benchmark that failed half-way leaves the container.
		c.timed = false
		if c.runj {
			c.run(b, "kill", c.id, "KILL")
			time.Sleep(100 * time.Millisecond)
			c.run(b, "delete", c.id)
		} else {
			c.run(b, "delete", "--force", c.id)
		}
	})
	if c.timed {
		c.phases = filepath.Join(b.TempDir(), "phases")
	}
	var steps, phases phase.Series
	step := steps.Add
	for b.Loop() {
		if c.phases != "" {
			if err := os.WriteFile(c.phases, nil, 0o600); err != nil {
				b.Fatal(err)
			}
		}
		if c.runj {
			step("create", c.must(b, "create", c.id, bundle))
		} else {
			step("create", c.must(b, "create", "--bundle", bundle, c.id))
		}
		step("start", c.must(b, "start", c.id))
		if force {
			step("delete-force", c.must(b, "delete", "--force", c.id))
		} else {
			step("kill", c.must(b, "kill", c.id, "KILL"))
			step("stopped", c.waitStopped(b))
			step("delete", c.must(b, "delete", c.id))
		}
		if c.phases == "" {
			continue
		}
		b.StopTimer()
		parent := phase.New("bench")
		parent.Share(c.phases)
		if err := parent.Collect(); err != nil {
			b.Fatal(err)
		}
		phases.AddRun(parent.Records())
		b.StartTimer()
	}
	for _, name := range steps.Names() {
		b.ReportMetric(float64(steps.Median(name))/1e6, name+"-ms/op")
	}
	if len(phases.Names()) == 0 {
		return
	}
	var table strings.Builder
	fmt.Fprintf(&table, "%s: median per lifecycle of %d\n", b.Name(), phases.Runs(phases.Names()[0]))
	for i, name := range phases.Names() {
		med := phases.Median(name)
		b.ReportMetric(float64(med), fmt.Sprintf("%02d.%s-ns/op", i+1, strings.ReplaceAll(name, " ", ".")))
		fmt.Fprintf(&table, "phase %-28s %10.1f us\n", name, float64(med)/1e3)
	}
	// b.Log keeps 10 lines of a benchmark's output: the table goes to
	// the standard output whole.
	fmt.Print(table.String())
}
