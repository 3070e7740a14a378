package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The helpers are run in a child test process, so that a skip or a failure
// can be seen from outside.
const childEnv = "STOCKADE_TESTENV_CHILD"

func TestChild(t *testing.T) {
	switch os.Getenv(childEnv) {
	case "":
		t.Skip("run by TestSkipOrFail as a child process")
	case "missing-command":
		RequireCommand(t, "stockade-no-such-command")
		t.Log("RequireCommand returned")
	case "present-command":
		if p := RequireCommand(t, "sh"); !strings.HasSuffix(p, "/sh") {
			t.Errorf("RequireCommand(sh) = %q", p)
		}
		t.Log("RequireCommand returned")
	case "unavailable":
		Unavailable(t, "no %s here", "widget")
		t.Log("Unavailable returned")
	case "root":
		RequireRoot(t, "this")
		t.Log("RequireRoot returned")
	}
}

// TestSkipOrFail runs TestChild with and without CI and checks that what
// is missing skips the test without CI and fails it with CI, naming what
// is missing, and that what is there lets the test go on.
func TestSkipOrFail(t *testing.T) {
	root := os.Geteuid() == 0
	tests := []struct {
		mode, ci string
		want     string // "pass", "skip" or "fail"
		says     string
	}{
		{"missing-command", "", "skip", "stockade-no-such-command is not installed"},
		{"missing-command", "1", "fail", "stockade-no-such-command is not installed"},
		{"missing-command", "true", "fail", "CI is set"},
		{"present-command", "1", "pass", "RequireCommand returned"},
		{"unavailable", "", "skip", "no widget here"},
		{"unavailable", "1", "fail", "no widget here"},
		{"root", "1", map[bool]string{true: "pass", false: "fail"}[root], map[bool]string{true: "RequireRoot returned", false: "this needs root"}[root]},
		{"root", "", map[bool]string{true: "pass", false: "skip"}[root], map[bool]string{true: "RequireRoot returned", false: "this needs root"}[root]},
	}
	for _, tt := range tests {
		t.Run(tt.mode+"/CI="+tt.ci, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.v")
			cmd.Env = append(os.Environ(), childEnv+"="+tt.mode, "CI="+tt.ci)
			out, err := cmd.CombinedOutput()
			var got string
			switch {
			case err != nil:
				got = "fail"
			case strings.Contains(string(out), "--- SKIP: TestChild"):
				got = "skip"
			case strings.Contains(string(out), "--- PASS: TestChild"):
				got = "pass"
			default:
				t.Fatalf("cannot tell how the child ended: %v\n%s", err, out)
			}
			if got != tt.want {
				t.Errorf("child %s, want %s:\n%s", got, tt.want, out)
			}
			if !strings.Contains(string(out), tt.says) {
				t.Errorf("child output does not say %q:\n%s", tt.says, out)
			}
			if got != "pass" && strings.Contains(string(out), "returned") {
				t.Errorf("the test went on after it was stopped:\n%s", out)
			}
		})
	}
}
