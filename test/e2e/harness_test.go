// Package e2e runs the stockade binary end to end against real peers on
// loopback: Debian's docker-registry, skopeo and umoci, overlayfs.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockade/stockade/internal/testenv"
)

// stockadeBin is the binary under test, built once by TestMain.
var stockadeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stockade-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = dir
	stockadeBin = filepath.Join(dir, "stockade")
	// stockade-monitor, the small idle monitor, and stockade-supervisor,
	// the lean monitor, next to stockade, where they are looked for:
	// every test's container starts with the lean monitor (unless it has
	// NRI), and a long-running one hands over to the small one.
	// stockade is the lean build, as `make build` makes it, and
	// stockade-full, which it runs for NRI, OCI-crypt, build and commit
	// --change, the full one: the tests of those go through the hand-over.
	for _, args := range [][]string{
		{"-o", dir + "/", "github.com/stockade/stockade/cmd/stockade-monitor", "github.com/stockade/stockade/cmd/stockade-supervisor"},
		{"-tags", "lean", "-o", stockadeBin, "github.com/stockade/stockade/cmd/stockade"},
		{"-o", filepath.Join(dir, "stockade-full"), "github.com/stockade/stockade/cmd/stockade"},
	} {
		build := exec.Command("go", append([]string{"build"}, args...)...)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %v: %v\n%s", args, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// workDir holds what the whole run shares (the binary, test images and
// programs); TestMain removes it at the end.
var workDir string

// sharedDir makes a new directory under workDir.
func sharedDir(prefix string) (string, error) {
	return os.MkdirTemp(workDir, prefix)
}

// buildLayout makes, in dir, an OCI layout holding one image, tag "t":
// umoci's empty image, one layer per fill (each writes into the root file
// system as it stands), then configured with the umoci config flags given.
// It returns the layout's path.
func buildLayout(dir string, layers []func(rootfs string) error, config ...string) (string, error) {
	layout := filepath.Join(dir, "layout")
	umoci := func(args ...string) error {
		if out, err := exec.Command("umoci", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("umoci %v: %v: %s", args, err, out)
		}
		return nil
	}
	if err := umoci("init", "--layout", layout); err != nil {
		return "", err
	}
	if err := umoci("new", "--image", layout+":t"); err != nil {
		return "", err
	}
	for i, fill := range layers {
		bundle := filepath.Join(dir, fmt.Sprintf("bundle%d", i))
		if err := umoci("unpack", "--image", layout+":t", bundle); err != nil {
			return "", err
		}
		if err := fill(filepath.Join(bundle, "rootfs")); err != nil {
			return "", err
		}
		if err := umoci("repack", "--image", layout+":t", bundle); err != nil {
			return "", err
		}
		os.RemoveAll(bundle)
	}
	if len(config) > 0 {
		if err := umoci(append([]string{"config", "--image", layout + ":t"}, config...)...); err != nil {
			return "", err
		}
	}
	return layout, nil
}

// sharedLayout is buildLayout of one layer in a new directory under
// workDir, for an image the whole run shares.
func sharedLayout(prefix string, fill func(rootfs string) error, config ...string) (string, error) {
	dir, err := sharedDir(prefix)
	if err != nil {
		return "", err
	}
	return buildLayout(dir, []func(string) error{fill}, config...)
}

// need fails the test when a required peer tool is missing: CI installs
// them all (test/install-deps.sh), so a missing one is a broken setup, not
// a reason to skip.
func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed; run test/install-deps.sh", tool)
		}
	}
}

// env is one isolated stockade installation: its own root, state and
// (empty) configuration file.
type env struct {
	t     *testing.T
	dir   string
	root  string
	state string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	testenv.RequireRoot(t, "stockade (mounts, runc, network namespaces)")
	dir := t.TempDir()
	e := &env{t: t, dir: dir, root: filepath.Join(dir, "root"), state: filepath.Join(dir, "state")}
	if err := os.WriteFile(filepath.Join(dir, "stockade.toml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.removeAll()
		unmountUnder(dir)
	})
	return e
}

// removeAll removes the env's containers and networks, so that no bridge,
// rule or name server of the default network (made by the first run)
// outlives the test.
func (e *env) removeAll() {
	if _, err := os.Stat(e.root); err != nil {
		return // stockade never ran
	}
	if ids := strings.Fields(e.run("ps", "-a", "-q").stdout); len(ids) > 0 {
		e.run(append([]string{"rm", "-f"}, ids...)...)
	}
	for _, n := range strings.Fields(e.run("network", "ls", "-q").stdout) {
		e.run("network", "rm", n)
	}
}

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// run runs stockade with the env's root, state and config.
func (e *env) run(args ...string) result {
	e.t.Helper()
	return e.runCtx(context.Background(), args...)
}

func (e *env) runCtx(ctx context.Context, args ...string) result {
	e.t.Helper()
	return e.runIO(ctx, nil, args...)
}

// runStdin runs stockade with stdin.
func (e *env) runStdin(stdin io.Reader, args ...string) result {
	e.t.Helper()
	return e.runIO(context.Background(), stdin, args...)
}

func (e *env) runIO(ctx context.Context, stdin io.Reader, args ...string) result {
	e.t.Helper()
	cmd := e.command(ctx, args...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			e.t.Fatalf("run stockade %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// globals are the global flags that point stockade at the env's root,
// state and config.
func (e *env) globals() []string {
	return []string{"--root", e.root, "--state", e.state, "--config", filepath.Join(e.dir, "stockade.toml")}
}

// command is stockade with the env's globals and args, not started.
func (e *env) command(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, stockadeBin, append(e.globals(), args...)...)
}

// must runs stockade and fails the test unless it exits 0.
func (e *env) must(args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != 0 {
		e.t.Fatalf("stockade %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// registry is a Debian docker-registry process on a loopback port.
type registry struct {
	addr string
}

func startRegistry(t *testing.T) *registry {
	t.Helper()
	return serveRegistry(t, t.TempDir(), "")
}

// serveRegistry runs docker-registry with its storage under dir, the
// configuration section extra (YAML at the top level, "" for none), on a
// free loopback port, and waits until it listens.
func serveRegistry(t *testing.T, dir, extra string) *registry {
	t.Helper()
	need(t, "docker-registry")
	port := freePort(t)
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
%shttp:
  addr: 127.0.0.1:%d
`, filepath.Join(dir, "data"), extra, port)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("docker-registry", "serve", cfgPath)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not listen on %s: %s", addr, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &registry{addr: addr}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// sh runs a command and fails the test on a non-zero exit.
func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// unmountUnder lazily unmounts anything still mounted below dir, so a
// failed test does not leave mounts that break t.TempDir's cleanup.
func unmountUnder(dir string) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var targets []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir) {
			targets = append(targets, f[4])
		}
	}
	for i := len(targets) - 1; i >= 0; i-- {
		exec.Command("umount", "-l", targets[i]).Run()
	}
}
