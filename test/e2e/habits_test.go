package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestPsNoTrunc: ps cuts ids to 12 hex digits and commands to 30
// characters, as docker does; --no-trunc shows them whole. CREATED speaks
// as STATUS does.
func TestPsNoTrunc(t *testing.T) {
	e, ref := ctrEnv(t)
	id := strings.TrimSpace(e.must("run", "-d", "--name", "long", ref, "sleep", "1h", "and-a-long-argument-to-cut").stdout)
	full := `"/bin/ctrprog sleep 1h and-a-long-argument-to-cut"`
	table := e.must("ps").stdout
	if strings.Contains(table, id) || !strings.Contains(table, id[:12]+" ") || strings.Contains(table, full) || !strings.Contains(table, `"/bin/ctrprog sleep 1h and-a..."`) {
		t.Errorf("ps:\n%s", table)
	}
	if strings.Contains(table, "just now") || !regexp.MustCompile(`(Less than a second|[0-9]+ seconds?) ago +Up `).MatchString(table) {
		t.Errorf("ps CREATED is not in STATUS's words:\n%s", table)
	}
	table = e.must("ps", "--no-trunc").stdout
	if !strings.Contains(table, id+" ") || !strings.Contains(table, full) {
		t.Errorf("ps --no-trunc:\n%s", table)
	}
	if out := e.must("ps", "-q", "--no-trunc").stdout; out != id+"\n" {
		t.Errorf("ps -q --no-trunc: %q", out)
	}
	if out := e.must("ps", "-q").stdout; out != id[:12]+"\n" {
		t.Errorf("ps -q: %q", out)
	}
}

// TestRmiInUse follows docker's rules for an image that containers use: a
// running container's image is never removed, not even with -f; a stopped
// container's only with -f, and the container still starts afterwards
// (its root keeps the layers); the layers go once it is removed.
func TestRmiInUse(t *testing.T) {
	e, ref := ctrEnv(t)
	imageID := strings.TrimSpace(e.must("images", "-q", "--no-trunc").stdout)
	if !strings.HasPrefix(imageID, "sha256:") || len(imageID) != 71 {
		t.Fatalf("images -q --no-trunc: %q", imageID)
	}
	e.must("run", "-d", "--name", "user", ref, "sleep", "1h")
	for _, args := range [][]string{{"rmi", ref}, {"rmi", "-f", ref}, {"rmi", "-f", imageID[7:19]}, {"image", "rm", "--force", ref}} {
		r := e.run(args...)
		if r.code != 125 || !strings.Contains(r.stderr, "the image is used by running container user (stop it first; -f does not override this)") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v while a container runs: %s", args, r)
		}
	}
	e.must("stop", "-t", "1", "user")
	r := e.run("rmi", ref)
	if r.code != 125 || r.stderr != "stockade: rmi "+ref+": the image is used by stopped container user (remove it first, or use -f)\n" {
		t.Errorf("rmi of a stopped container's image: %s", r)
	}
	if out := e.must("images", "-q").stdout; out != imageID[7:19]+"\n" {
		t.Fatalf("a refused rmi removed the image: %q", out)
	}
	r = e.must("rmi", "-f", ref)
	if r.stdout != "Untagged: "+ref+"\nDeleted: "+imageID+"\n" {
		t.Errorf("rmi -f: %q", r.stdout)
	}
	if out := e.must("images", "-q").stdout; out != "" {
		t.Errorf("images after rmi -f: %q", out)
	}
	// The container's root still has its layers.
	e.must("start", "user")
	if out := e.must("exec", "user", "/bin/ctrprog", "echo", "still here").stdout; out != "still here\n" {
		t.Errorf("exec in a container whose image was removed: %q", out)
	}
	layers := func() int {
		dirs, _ := filepath.Glob(filepath.Join(e.root, "snapshots", "overlay", "snapshots", "*"))
		return len(dirs)
	}
	before := layers()
	e.must("rm", "-f", "user")
	e.must("system", "prune", "-f")
	if after := layers(); after >= before || after != 0 {
		t.Errorf("snapshots: %d before the container went, %d after prune (want 0)", before, after)
	}
	blobs, _ := filepath.Glob(filepath.Join(e.root, "content", "blobs", "sha256", "*"))
	if len(blobs) != 0 {
		t.Errorf("%d blobs left", len(blobs))
	}
	if _, err := os.Stat(e.root); err != nil {
		t.Fatal(err)
	}
}

// TestPruneAll: system prune -a removes the images no container uses,
// and keeps a running container's; without -f and a terminal it refuses.
func TestPruneAll(t *testing.T) {
	e, ref := ctrEnv(t)
	e.must("tag", ref, "local/spare:1")
	e.must("run", "-d", "--name", "keeper", ref, "sleep", "1h")
	r := e.run("system", "prune", "-a")
	if r.code != 125 || !strings.Contains(r.stderr, "use -f") || len(strings.Fields(e.must("images", "-q").stdout)) != 2 {
		t.Errorf("prune -a without -f on a pipe: %s", r)
	}
	// local/spare:1 is another name of the image the container uses: kept.
	e.must("system", "prune", "-f", "-a")
	if out := e.must("images").stdout; !strings.Contains(out, ref) || !strings.Contains(out, "local/spare:1") {
		t.Errorf("prune -a removed a running container's image:\n%s", out)
	}
	e.must("rm", "-f", "keeper")
	out := e.must("system", "prune", "-f", "-a").stdout
	if !strings.Contains(out, "removed image "+ref+"\n") || e.must("images", "-q").stdout != "" {
		t.Errorf("prune -f -a with no container: %q, images %q", out, e.must("images", "-q").stdout)
	}
}
