//go:build freebsd

// Package freebsd is the FreeBSD integration suite of the jail runtime: it
// builds stockade-runtime and runs it for real, as root on a FreeBSD 14.x
// host, against a root file system unpacked from a FreeBSD base.txz. See
// README.md; run.sh runs it.
package freebsd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// commandTimeout bounds every command the suite runs, so that a hang fails
// the test that caused it instead of the whole run.
const commandTimeout = 2 * time.Minute

// suite is what all tests share: the runtime binary and the FreeBSD root
// file system, made once by the first test that needs them.
var suite struct {
	dir    string // scratch directory of this run, removed at its end
	once   sync.Once
	bin    string
	rootfs string
	err    error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stockade-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	suite.dir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one test's view of the suite: the runtime binary, a state root of
// its own, and the shared FreeBSD root file system.
type env struct {
	bin    string
	root   string // the runtime's --root
	rootfs string
}

// setup skips unless the test runs as root with STOCKADE_FREEBSD_BASE set,
// and returns the test's env; the first call builds the runtime and
// unpacks the base.
func setup(t testing.TB) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	base := os.Getenv("STOCKADE_FREEBSD_BASE")
	if base == "" {
		t.Skip("STOCKADE_FREEBSD_BASE (a FreeBSD base.txz) is not set; run.sh fetches one")
	}
	suite.once.Do(func() { suite.bin, suite.rootfs, suite.err = prepareSuite(base) })
	if suite.err != nil {
		t.Fatal(suite.err)
	}
	return &env{bin: suite.bin, root: filepath.Join(t.TempDir(), "state"), rootfs: suite.rootfs}
}

func prepareSuite(base string) (bin, rootfs string, err error) {
	bin = filepath.Join(suite.dir, "stockade-runtime")
	// No VCS stamping: in a CI VM the checkout may belong to another user,
	// which git refuses to read.
	build := exec.Command("go", "build", "-buildvcs=false", "-o", bin, "github.com/stockade/stockade/cmd/stockade-runtime")
	if out, err := build.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build stockade-runtime: %v\n%s", err, out)
	}
	rootfs, err = unpackBase(base)
	if err != nil {
		return "", "", err
	}
	left, err := mountsUnder(rootfs)
	if err != nil {
		return "", "", err
	}
	if len(left) > 0 {
		return "", "", fmt.Errorf("mounts left under %s by an earlier run; unmount them first:\n%s", rootfs, strings.Join(left, "\n"))
	}
	return bin, rootfs, nil
}

// unpackBase unpacks base.txz once into a directory named after it, kept
// across runs, and returns the directory's real path (mount(8) prints
// real paths).
func unpackBase(base string) (string, error) {
	abs, err := filepath.Abs(base)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("STOCKADE_FREEBSD_BASE: %w", err)
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s %d %d", abs, fi.Size(), fi.ModTime().UnixNano()))
	dir := filepath.Join(os.TempDir(), "stockade-it-rootfs-"+hex.EncodeToString(sum[:6]))
	if _, err := os.Stat(filepath.Join(dir, "bin/sh")); err != nil {
		partial := dir + ".partial"
		if err := removeTree(partial); err != nil {
			return "", err
		}
		if err := os.MkdirAll(partial, 0o755); err != nil {
			return "", err
		}
		if out, err := exec.Command("tar", "-xf", abs, "-C", partial).CombinedOutput(); err != nil {
			return "", fmt.Errorf("unpack %s: %v\n%s", abs, err, out)
		}
		if err := os.Rename(partial, dir); err != nil {
			return "", err
		}
	}
	return filepath.EvalSymlinks(dir)
}

// removeTree removes a directory unpacked from a base, whose files may
// carry the schg flag.
func removeTree(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if out, err := exec.Command("chflags", "-R", "0", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("chflags -R 0 %s: %v\n%s", dir, err, out)
	}
	return os.RemoveAll(dir)
}

// result is what one command did.
type result struct {
	cmd    string
	stdout string
	stderr string
	err    error
}

func (r result) String() string {
	s := r.cmd
	if r.err != nil {
		s += ": " + r.err.Error()
	}
	if r.stdout != "" {
		s += "\nstdout:\n" + r.stdout
	}
	if r.stderr != "" {
		s += "\nstderr:\n" + r.stderr
	}
	return s
}

// exitCode is the command's exit status, -1 when it did not exit.
func (r result) exitCode() int {
	var exit *exec.ExitError
	if errors.As(r.err, &exit) {
		return exit.ExitCode()
	}
	if r.err != nil {
		return -1
	}
	return 0
}

// command runs name with args. Its standard output and error go to files,
// not pipes: a container process inherits them from create and would
// otherwise keep the command from ending.
func command(t *testing.T, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	r := result{cmd: name + " " + strings.Join(args, " ")}
	stdout, stderr := scratchFile(t), scratchFile(t)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	r.err = cmd.Run()
	if ctx.Err() != nil {
		r.err = fmt.Errorf("%w (timed out after %s)", r.err, commandTimeout)
	}
	r.stdout, r.stderr = readScratch(t, stdout), readScratch(t, stderr)
	return r
}

func scratchFile(t *testing.T) *os.File {
	t.Helper()
	f, err := os.CreateTemp(suite.dir, "out-")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func readScratch(t *testing.T, f *os.File) string {
	t.Helper()
	defer os.Remove(f.Name())
	defer f.Close()
	data, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// host runs a command on the host and fails the test when it fails.
func host(t *testing.T, name string, args ...string) string {
	t.Helper()
	r := command(t, name, args...)
	if r.err != nil {
		t.Fatalf("%v", r)
	}
	return r.stdout
}

// run runs stockade-runtime with the test's --root.
func (e *env) run(t *testing.T, args ...string) result {
	t.Helper()
	r := command(t, e.bin, append([]string{"--root", e.root}, args...)...)
	r.cmd = "stockade-runtime " + strings.Join(args, " ")
	return r
}

// must runs stockade-runtime, fails the test when it fails, and returns
// its standard output.
func (e *env) must(t *testing.T, args ...string) string {
	t.Helper()
	r := e.run(t, args...)
	if r.err != nil {
		t.Fatalf("%v", r)
	}
	return r.stdout
}

// create creates container id from bundle b, with more create flags, and
// has it deleted (forcibly) when the test ends.
func (e *env) create(t *testing.T, id, b string, flags ...string) {
	t.Helper()
	e.cleanup(t, id)
	args := append(append([]string{"create", "--bundle", b}, flags...), id)
	e.must(t, args...)
}

// cleanup deletes container id, forcibly, when the test ends; a container
// that is gone already is fine.
func (e *env) cleanup(t *testing.T, id string) {
	t.Cleanup(func() {
		r := e.run(t, "delete", "--force", id)
		if r.err != nil && !strings.Contains(r.stderr, "not found") {
			t.Errorf("cleanup: %v", r)
		}
	})
}

// exec runs a command in the container and returns its standard output.
func (e *env) exec(t *testing.T, id string, args ...string) string {
	t.Helper()
	return e.must(t, append([]string{"exec", id}, args...)...)
}

// execProcess runs exec --process with p written to a file.
func (e *env) execProcess(t *testing.T, id string, p *specs.Process, flags ...string) result {
	t.Helper()
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "process.json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{"exec", "--process", file}, flags...), id)
	return e.run(t, args...)
}

// state returns the container's state.
func (e *env) state(t *testing.T, id string) specs.State {
	t.Helper()
	out := e.must(t, "state", id)
	var st specs.State
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("state %s: %v\n%s", id, err, out)
	}
	return st
}

// jid returns the container's jail id, from its state.
func (e *env) jid(t *testing.T, id string) int {
	t.Helper()
	st := e.state(t, id)
	jid, err := strconv.Atoi(st.Annotations["org.freebsd.jail.jid"])
	if err != nil || jid <= 0 {
		t.Fatalf("state of %s has no org.freebsd.jail.jid annotation: %+v", id, st)
	}
	return jid
}

// waitStatus polls the container's state until its status is want.
func (e *env) waitStatus(t *testing.T, id string, want specs.ContainerState, timeout time.Duration) specs.State {
	t.Helper()
	var st specs.State
	eventually(t, timeout, fmt.Sprintf("container %s %s", id, want), func() (bool, string) {
		st = e.state(t, id)
		return st.Status == want, fmt.Sprintf("status %q", st.Status)
	})
	return st
}

// eventually polls cond until it holds or the timeout passes; then the
// test fails with what cond said last.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after %s; last: %s", what, timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// newID returns a container id unique to the test and this run.
func newID(t *testing.T) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(strings.TrimPrefix(t.Name(), "Test")))
	return fmt.Sprintf("it-%s-%d", strings.Trim(name, "-"), os.Getpid())
}

// bundle writes a bundle running /bin/sleep 60 in the FreeBSD root file
// system, with devfs (ruleset 4 and /dev/pf unhidden), fdescfs and the
// bundle directory read-only on /mnt, changed by edit.
func (e *env) bundle(t *testing.T, edit func(*specs.Spec)) string {
	t.Helper()
	return writeBundle(t, e.rootfs, edit)
}

func writeBundle(t testing.TB, rootfs string, edit func(*specs.Spec)) string {
	t.Helper()
	b := t.TempDir()
	mode := os.FileMode(0o600)
	spec := specs.Spec{
		Version:  specs.Version,
		Root:     &specs.Root{Path: rootfs},
		Hostname: "it",
		Process: &specs.Process{
			Args: []string{"/bin/sleep", "60"},
			Cwd:  "/",
			Env:  []string{"PATH=/bin:/usr/bin:/sbin:/usr/sbin"},
		},
		Mounts: []specs.Mount{
			{Destination: "/dev", Type: "devfs", Source: "devfs", Options: []string{"ruleset=4"}},
			{Destination: "/dev/fd", Type: "fdescfs", Source: "fdescfs"},
			{Destination: "/mnt", Type: "nullfs", Source: b, Options: []string{"ro"}},
		},
		FreeBSD: &specs.FreeBSD{
			Devices: []specs.FreeBSDDevice{{Path: "pf", Mode: &mode}},
			Jail:    &specs.FreeBSDJail{Host: "new", Ip4: "inherit", Ip6: "disable", SysVShm: "new"},
		},
		Annotations: map[string]string{},
	}
	if edit != nil {
		edit(&spec)
	}
	data, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// shProcess is a process running script with /bin/sh as root in /.
func shProcess(script string) *specs.Process {
	return &specs.Process{
		Args: []string{"/bin/sh", "-c", script},
		Cwd:  "/",
		Env:  []string{"PATH=/bin:/usr/bin:/sbin:/usr/sbin"},
	}
}

// mountsUnder returns the mount points at or below dir, from mount -p.
func mountsUnder(dir string) ([]string, error) {
	out, err := exec.Command("mount", "-p").Output()
	if err != nil {
		return nil, fmt.Errorf("mount -p: %w", err)
	}
	var found []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[1] == dir || strings.HasPrefix(f[1], dir+"/")) {
			found = append(found, line)
		}
	}
	return found, nil
}

// jailExists tells whether a jail of that name or id exists.
func jailExists(t *testing.T, name string) bool {
	t.Helper()
	return command(t, "jls", "-j", name, "jid").err == nil
}

// jailParams returns the tokens jls -n prints for the jail's parameters:
// name=value, or for booleans name or its "no" form.
func jailParams(t *testing.T, name string, params ...string) []string {
	t.Helper()
	return strings.Fields(host(t, "jls", append([]string{"-n", "-j", name}, params...)...))
}

// jailProcesses returns the pids of the processes in jail jid.
func jailProcesses(t *testing.T, jid int) []string {
	t.Helper()
	r := command(t, "pgrep", "-j", strconv.Itoa(jid), ".")
	if r.exitCode() == 1 {
		return nil // none
	}
	if r.err != nil {
		t.Fatalf("%v", r)
	}
	return strings.Fields(r.stdout)
}

// hasInet tells whether ifconfig output lists the IPv4 address.
func hasInet(ifconfig, addr string) bool {
	for _, line := range strings.Split(ifconfig, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "inet" && f[1] == addr {
			return true
		}
	}
	return false
}

// racctEnabled tells whether kern.racct.enable is 1, as rctl needs.
func racctEnabled() bool {
	out, err := exec.Command("sysctl", "-n", "kern.racct.enable").Output()
	return err == nil && bytes.Equal(bytes.TrimSpace(out), []byte("1"))
}

// assertGone checks that nothing of container id is left: no state, no
// jail, no mounts under the root file system.
func (e *env) assertGone(t *testing.T, id string) {
	t.Helper()
	if r := e.run(t, "state", id); r.err == nil {
		t.Errorf("state of %s still there:\n%s", id, r.stdout)
	}
	if _, err := os.Lstat(filepath.Join(e.root, id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state directory of %s left under %s (%v)", id, e.root, err)
	}
	if jailExists(t, id) {
		t.Errorf("jail %s left:\n%s", id, host(t, "jls", "-j", id))
	}
	left, err := mountsUnder(e.rootfs)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("mounts left under %s:\n%s", e.rootfs, strings.Join(left, "\n"))
	}
}
