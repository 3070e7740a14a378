package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: the master, and the terminal
// itself for a command's stdin.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return master, tty
}

// TestPruneAsksOnATerminal: on a terminal, system prune shows docker's
// warning and removes nothing unless the answer is yes.
func TestPruneAsksOnATerminal(t *testing.T) {
	e := newCLIEnv(t)
	e.importImage("local/a:1", "a")
	prune := func(answer string, args ...string) (int, string, string) {
		master, tty := openPTY(t)
		if _, err := master.WriteString(answer + "\n"); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		full := append(append([]string{"stockade"}, e.global...), append([]string{"system", "prune"}, args...)...)
		code := run(context.Background(), full, tty, &out, &errb)
		return code, out.String(), errb.String()
	}
	for _, answer := range []string{"n", "", "nope"} {
		code, out, stderr := prune(answer, "--all")
		if code != 125 || stderr != "stockade: system prune: cancelled, nothing removed\n" {
			t.Errorf("answer %q: exit %d %q", answer, code, stderr)
		}
		if !strings.HasPrefix(out, "WARNING! This will remove:\n  - all stopped containers\n") ||
			!strings.Contains(out, "  - all images without at least one container associated to them\n") ||
			!strings.HasSuffix(out, "Are you sure you want to continue? [y/N] ") {
			t.Errorf("prompt: %q", out)
		}
		if names := e.imageNames(); len(names) != 1 {
			t.Fatalf("answer %q removed images: %q", answer, names)
		}
	}
	code, out, stderr := prune("y")
	if code != 0 || strings.Contains(out, "all images without") || len(e.imageNames()) != 1 {
		t.Errorf("prune answered y: exit %d %q %q, images %q", code, out, stderr, e.imageNames())
	}
	code, out, stderr = prune("Yes", "-a")
	if code != 0 || !strings.HasSuffix(out, "[y/N] removed image index.docker.io/local/a:1\n") || len(e.imageNames()) != 0 {
		t.Errorf("prune -a answered Yes: exit %d %q %q, images %q", code, out, stderr, e.imageNames())
	}
}

// TestNetworkPruneAsks: network prune asks on a terminal like system
// prune, and refuses without -f when it cannot ask.
func TestNetworkPruneAsks(t *testing.T) {
	e := newCLIEnv(t)
	master, tty := openPTY(t)
	if _, err := master.WriteString("n\n"); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), append(append([]string{"stockade"}, e.global...), "network", "prune"), tty, &out, &errb)
	if code != 125 || errb.String() != "stockade: network prune: cancelled, nothing removed\n" || !strings.HasSuffix(out.String(), "[y/N] ") {
		t.Errorf("answer n: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	code = run(context.Background(), append(append([]string{"stockade"}, e.global...), "network", "prune"), strings.NewReader(""), &out, &errb)
	if code != 125 || !strings.Contains(errb.String(), "use -f") {
		t.Errorf("no terminal: exit %d, stderr %q", code, errb.String())
	}
}
