package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stockade/stockade/internal/testenv"
)

// TestContainerdShim: containerd's runc shim (io.containerd.runc.v2) drives
// stockade-runtime as its runc (ctr run --runc-binary): create through
// stockade-runtime's own path, start, state, kill and delete passed
// through to runc, exec, exit codes, and a failed create's error, which the
// shim reads back from the --log file.
func TestContainerdShim(t *testing.T) {
	bin, prog := e2eBinaries(t)
	testenv.RequireCommand(t, "containerd")
	testenv.RequireCommand(t, "ctr")
	testenv.RequireCommand(t, "containerd-shim-runc-v2")
	dir := t.TempDir()
	ctr := startContainerd(t, dir)
	runcRoot := filepath.Join(dir, "runc-root")
	image := filepath.Join(dir, "image.tar")
	writeOCIArchive(t, image, prog, "docker.io/library/stockade-runtime-test:latest")
	if out, err := ctr("images", "import", image); err != nil {
		t.Fatalf("ctr images import: %v\n%s", err, out)
	}
	ref := "docker.io/library/stockade-runtime-test:latest"
	rt := []string{"--runc-binary", bin, "--runc-root", runcRoot}
	t.Cleanup(func() {
		for _, id := range []string{"c1", "t1", "t2"} {
			ctr("task", "delete", "--force", id)
			ctr("container", "delete", id)
		}
	})

	// A run to the end: the program's output and exit status.
	out, err := ctr(append(append([]string{"run", "--rm"}, rt...), ref, "t1", "/prog", "out:hello", "exit:3")...)
	if code := exitCode(err); code != 3 || out != "hello\n" {
		t.Errorf("run: exit %d (%v), output %q", code, err, out)
	}

	// A detached container, an exec in it, kill and delete.
	if out, err := ctr(append(append([]string{"run", "-d"}, rt...), ref, "c1", "/prog", "sleep:60")...); err != nil {
		t.Fatalf("run -d: %v\n%s", err, out)
	}
	out, err = ctr("task", "exec", "--exec-id", "e1", "c1", "/prog", "out:in-exec", "exit:5")
	if code := exitCode(err); code != 5 || out != "in-exec\n" {
		t.Errorf("exec: exit %d (%v), output %q", code, err, out)
	}
	if out, err := ctr("task", "ls"); err != nil || !regexpMatch(`(?m)^c1\s+\d+\s+RUNNING$`, out) {
		t.Errorf("task ls: %v\n%s", err, out)
	}
	// pause and resume reach runc's freezer through stockade-runtime.
	for _, step := range []struct{ cmd, want string }{{"pause", "PAUSED"}, {"resume", "RUNNING"}} {
		if out, err := ctr("task", step.cmd, "c1"); err != nil {
			t.Fatalf("task %s: %v\n%s", step.cmd, err, out)
		}
		if out, err := ctr("task", "ls"); err != nil || !regexpMatch(`(?m)^c1\s+\d+\s+`+step.want+`$`, out) {
			t.Errorf("task ls after %s: %v\n%s", step.cmd, err, out)
		}
	}
	if out, err := ctr("task", "kill", "-s", "KILL", "c1"); err != nil {
		t.Fatalf("kill: %v\n%s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := ctr("task", "ls")
		if regexpMatch(`(?m)^c1\s+\d+\s+STOPPED$`, out) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("c1 not stopped after kill:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, err := ctr("task", "delete", "c1"); err != nil {
		t.Fatalf("task delete: %v\n%s", err, out)
	}
	if out, err := ctr("container", "delete", "c1"); err != nil {
		t.Fatalf("container delete: %v\n%s", err, out)
	}
	// runc's state is under stockade-runtime's root: nothing is left.
	left, err := os.ReadDir(filepath.Join(runcRoot, "srttest", "runc"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("runc state left: %v", left)
	}

	// A create that fails: the shim reports the runtime's error, which for
	// a create runc itself refuses is runc's (stockade-runtime became
	// runc for it: passthrough.go).
	out, err = ctr(append(append([]string{"run", "--rm"}, rt...), ref, "t2", "/nonexistent")...)
	if exitCode(err) == 0 || !strings.Contains(out, "OCI runtime create failed: runc create failed: ") || !strings.Contains(out, `"/nonexistent"`) {
		t.Errorf("run of a missing program: %v\n%s", err, out)
	}
}

// startContainerd starts a containerd with its root, state, sockets and
// configuration in dir, and returns a function running ctr against it in
// the namespace srttest (stdout and stderr together). It is stopped when
// the test ends.
func startContainerd(t *testing.T, dir string) func(args ...string) (string, error) {
	t.Helper()
	sock := filepath.Join(dir, "c.sock")
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc", filepath.Join(dir, "opt"))
	configFile := filepath.Join(dir, "containerd.toml")
	if err := os.WriteFile(configFile, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command("containerd", "--config", configFile)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	ctr := func(args ...string) (string, error) {
		out, err := exec.Command("ctr", append([]string{"--address", sock, "--namespace", "srttest"}, args...)...).CombinedOutput()
		return string(out), err
	}
	// Registered first, so it runs after the test's own clean-up.
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("containerd's log:\n%s", log.Bytes())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := ctr("version"); err == nil {
			return ctr
		}
		select {
		case err := <-done:
			t.Fatalf("containerd exited: %v\n%s", err, log.Bytes())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not answer in 30s:\n%s", log.Bytes())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writeOCIArchive writes an OCI image layout as a tar file: one layer with
// prog as /prog, the image named name (the annotation ctr import reads).
func writeOCIArchive(t *testing.T, path, prog, name string) {
	t.Helper()
	data, err := os.ReadFile(prog)
	if err != nil {
		t.Fatal(err)
	}
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	if err := lw.WriteHeader(&tar.Header{Name: "prog", Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	lw.Write(data)
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	blobs := map[string][]byte{}
	descriptor := func(mediaType string, b []byte) map[string]any {
		d := fmt.Sprintf("sha256:%x", sha256.Sum256(b))
		blobs[d] = b
		return map[string]any{"mediaType": mediaType, "digest": d, "size": len(b)}
	}
	mustJSON := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	layerDesc := descriptor("application/vnd.oci.image.layer.v1.tar", layer.Bytes())
	config := mustJSON(map[string]any{
		"architecture": runtimeArch(),
		"os":           "linux",
		"config":       map[string]any{"Cmd": []string{"/prog"}, "Env": []string{"PATH=/"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{layerDesc["digest"].(string)}},
	})
	manifest := mustJSON(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        descriptor("application/vnd.oci.image.config.v1+json", config),
		"layers":        []any{layerDesc},
	})
	manifestDesc := descriptor("application/vnd.oci.image.manifest.v1+json", manifest)
	manifestDesc["annotations"] = map[string]string{"io.containerd.image.name": name, "org.opencontainers.image.ref.name": "latest"}
	index := mustJSON(map[string]any{"schemaVersion": 2, "manifests": []any{manifestDesc}})

	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	add := func(name string, b []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	add("index.json", index)
	for d, b := range blobs {
		add("blobs/sha256/"+strings.TrimPrefix(d, "sha256:"), b)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// exitCode is the exit status of a command's error: 0 for none, -1 when it
// did not run or exit.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// regexpMatch tells whether s matches the regular expression pattern.
func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }

// runtimeArch is the image architecture of this machine.
func runtimeArch() string { return runtime.GOARCH }
