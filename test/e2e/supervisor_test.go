package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cmdlineOf is the command line of pid, its arguments joined by spaces.
func cmdlineOf(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.ReplaceAll(string(data), "\x00", " "))
}

// TestLeanMonitor: without NRI a container's monitor and its health
// checker are stockade-supervisor; with NRI on they are stockade, which
// links NRI's hooks. A supervisor that finds NRI turned on since the start
// (here when the small monitor execs it back at the exit) hands itself to
// stockade, which records the exit.
func TestLeanMonitor(t *testing.T) {
	e, ref := handoverEnv(t)
	e.writeConfig("") // no handover for 5 s

	e.must("run", "-d", "--network", "none", "--name", "lean", "--health-cmd", "true", "--health-interval", "200ms", ref, "sleep", "60")
	mon := e.psOne("lean").State.MonitorPid
	if exe := exeOf(mon); exe != fullMonitor {
		t.Errorf("the monitor runs %q, want stockade-supervisor", exe)
	}
	checker := 0
	eventually(t, 10*time.Second, "the health checker", func() bool {
		for _, k := range childrenOf(mon) {
			if strings.Contains(cmdlineOf(k), "healthcheck monitor") {
				checker = k
				return true
			}
		}
		return false
	})
	if exe := exeOf(checker); exe != "stockade-supervisor" {
		t.Errorf("the health checker runs %q, want stockade-supervisor", exe)
	}
	e.must("rm", "-f", "lean")

	// Started lean, handed over, NRI turned on, then the exit.
	e.writeConfig("[monitor]\nidle_after = \"300ms\"\n")
	e.must("run", "-d", "--network", "none", "--name", "switch", ref, "sh", "-c", "sleep 2; exit 4")
	e.handedOver("switch")
	nri := "[nri.v010]\nenable = true\nconfig_file = \"/nonexistent/conf.json\"\nconfig_dir = \"/nonexistent/resource.d\"\n"
	e.writeConfig("[monitor]\nidle_after = \"300ms\"\n" + nri)
	if got := e.must("wait", "switch").stdout; got != "4\n" {
		t.Errorf("wait printed %q, want 4", got)
	}
	eventually(t, 10*time.Second, "the exit to be recorded", func() bool {
		p := e.psOne("switch")
		return p.State.Status == "exited" && p.State.ExitCode == 4
	})
	if log, _ := os.ReadFile(filepath.Join(e.state, "monitor.log")); !strings.Contains(string(log), "NRI is on: stockade takes over") {
		t.Errorf("the supervisor did not hand itself to stockade; monitor.log:\n%s", log)
	}
	e.must("rm", "switch")

	// NRI on from the start: the lean stockade hands the command to
	// stockade-full, which monitors.
	e.writeConfig(nri)
	e.must("run", "-d", "--network", "none", "--name", "full", ref, "sleep", "60")
	if exe := exeOf(e.psOne("full").State.MonitorPid); exe != "stockade-full" {
		t.Errorf("with NRI the monitor runs %q, want stockade-full", exe)
	}
	e.must("rm", "-f", "full")
}
