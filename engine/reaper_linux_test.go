package engine

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/stockade/stockade/internal/monitorio"
)

// TestSubreaperSurvivesExec: the monitor's handover to the small monitor
// and back relies on the subreaper status surviving execve (prctl(2):
// "preserved across execve"). A child of the test becomes a subreaper and
// execs the test binary again, which reports what the kernel says.
func TestSubreaperSurvivesExec(t *testing.T) {
	switch os.Getenv("STOCKADE_TEST_SUBREAPER") {
	case "become":
		if err := becomeSubreaper(); err != nil {
			os.Stdout.WriteString("prctl: " + err.Error())
			os.Exit(1)
		}
		self, _ := os.Executable()
		env := monitorio.WithEnv(os.Environ(), "STOCKADE_TEST_SUBREAPER", "report")
		err := syscall.Exec(self, []string{self, "-test.run=^TestSubreaperSurvivesExec$"}, env)
		os.Stdout.WriteString("exec: " + err.Error())
		os.Exit(1)
	case "report":
		var v int32
		if err := unix.Prctl(unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafePointer(&v)), 0, 0, 0); err != nil {
			os.Stdout.WriteString("prctl get: " + err.Error())
			os.Exit(1)
		}
		if v != 0 {
			os.Stdout.WriteString("subreaper after exec\n")
		} else {
			os.Stdout.WriteString("not a subreaper after exec\n")
		}
		os.Exit(0)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^TestSubreaperSurvivesExec$")
	cmd.Env = monitorio.WithEnv(os.Environ(), "STOCKADE_TEST_SUBREAPER", "become")
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != "subreaper after exec" {
		t.Errorf("child: %q, %v", out, err)
	}
}

func unsafePointer(v *int32) unsafe.Pointer { return unsafe.Pointer(v) }
