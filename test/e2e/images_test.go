package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stockade/stockade/linux/overlay"
	"github.com/stockade/stockade/mount"
)

// layerSpec changes an unpacked rootfs; umoci repack turns the change into
// a layer (deletions become whiteouts).
type layerSpec func(t *testing.T, rootfs string)

func writeFiles(files map[string]string) layerSpec {
	return func(t *testing.T, rootfs string) {
		for p, content := range files {
			full := filepath.Join(rootfs, p)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func removePaths(paths ...string) layerSpec {
	return func(t *testing.T, rootfs string) {
		for _, p := range paths {
			if err := os.RemoveAll(filepath.Join(rootfs, p)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// umociImage builds an OCI layout with one image, tag "t", one layer per
// spec, and returns the layout directory.
func umociImage(t *testing.T, specs ...layerSpec) string {
	t.Helper()
	need(t, "umoci")
	layers := make([]func(string) error, len(specs))
	for i, spec := range specs {
		layers[i] = func(rootfs string) error { spec(t, rootfs); return nil }
	}
	layout, err := buildLayout(t.TempDir(), layers, "--config.entrypoint", "/bin/app", "--config.env", "E2E=yes")
	if err != nil {
		t.Fatal(err)
	}
	return layout
}

// pushLayout copies the layout's image to the registry with skopeo.
func pushLayout(t *testing.T, layout, dest, compression string) {
	t.Helper()
	need(t, "skopeo")
	src := "oci:" + layout + ":t"
	args := []string{"copy", "-q", "--dest-tls-verify=false"}
	if compression != "" {
		// skopeo 1.9 reuses compressed blobs as they are; going through an
		// uncompressed dir: copy makes it compress with the asked format.
		dir := filepath.Join(t.TempDir(), "plain")
		sh(t, "skopeo", "copy", "-q", "--dest-decompress", src, "dir:"+dir)
		src = "dir:" + dir
		args = append(args, "--dest-compress-format", compression)
	}
	args = append(args, src, "docker://"+dest)
	sh(t, "skopeo", args...)
}

type imageRecord struct {
	Name     string   `json:"name"`
	ID       string   `json:"id"`
	ChainIDs []string `json:"chainIDs"`
	Layers   []struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
	} `json:"layers"`
}

func (e *env) inspectImage(name string) imageRecord {
	e.t.Helper()
	r := e.must("inspect", name)
	var recs []imageRecord
	if err := json.Unmarshal([]byte(r.stdout), &recs); err != nil || len(recs) != 1 {
		e.t.Fatalf("inspect %s: %v: %s", name, err, r.stdout)
	}
	return recs[0]
}

// rootfs mounts a read-only view of the image's top layer and returns the
// mount point; it is unmounted when the test ends.
func (e *env) rootfs(name string) string {
	e.t.Helper()
	rec := e.inspectImage(name)
	if len(rec.ChainIDs) == 0 {
		e.t.Fatalf("image %s has no layers", name)
	}
	sn, err := overlay.New(filepath.Join(e.root, "snapshots", "overlay"))
	if err != nil {
		e.t.Fatal(err)
	}
	ctx := context.Background()
	key := fmt.Sprintf("e2e-view-%d", time.Now().UnixNano())
	mounts, err := sn.View(ctx, key, rec.ChainIDs[len(rec.ChainIDs)-1])
	if err != nil {
		e.t.Fatal(err)
	}
	target := filepath.Join(e.dir, key)
	if err := os.MkdirAll(target, 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := mount.All(mounts, target); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		mount.UnmountAll(target)
		sn.Remove(ctx, key)
		sn.Close()
	})
	return target
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPullUmociImages(t *testing.T) {
	layout := umociImage(t,
		writeFiles(map[string]string{"bin/app": "#!/bin/sh\necho app\n", "etc/motd": "base\n", "opt/old/a": "a", "opt/old/b": "b", "var/keep": "k"}),
		removePaths("opt/old/a", "var/keep"),
		writeFiles(map[string]string{"etc/motd": "top\n", "opt/new": "n"}),
	)
	for _, compression := range []string{"gzip", "zstd"} {
		t.Run(compression, func(t *testing.T) {
			// A registry per format: skopeo's blob-info cache would otherwise
			// reuse the other format's blobs of the same content.
			reg := startRegistry(t)
			ref := fmt.Sprintf("%s/e2e/umoci:%s", reg.addr, compression)
			pushLayout(t, layout, ref, compression)
			e := newEnv(t)
			r := e.must("pull", ref)
			if !strings.HasPrefix(strings.TrimSpace(r.stdout), "sha256:") {
				t.Errorf("pull must print the image id, got %q", r.stdout)
			}
			rec := e.inspectImage(ref)
			if len(rec.Layers) != 3 {
				t.Fatalf("want 3 layers, got %d", len(rec.Layers))
			}
			for _, l := range rec.Layers {
				if !strings.HasSuffix(l.MediaType, "+"+compression) {
					t.Errorf("layer %s has media type %s, want +%s", l.Digest, l.MediaType, compression)
				}
			}
			root := e.rootfs(ref)
			if got := readFile(t, filepath.Join(root, "etc/motd")); got != "top\n" {
				t.Errorf("etc/motd = %q", got)
			}
			if got := readFile(t, filepath.Join(root, "opt/old/b")); got != "b" {
				t.Errorf("opt/old/b = %q", got)
			}
			for _, gone := range []string{"opt/old/a", "var/keep"} {
				if _, err := os.Lstat(filepath.Join(root, gone)); !os.IsNotExist(err) {
					t.Errorf("%s must be whited out, got %v", gone, err)
				}
			}
			// The image is listed, in both output formats.
			if out := e.must("images").stdout; !strings.Contains(out, ref) {
				t.Errorf("images does not list %s:\n%s", ref, out)
			}
			var list []imageRecord
			if err := json.Unmarshal([]byte(e.must("images", "--format", "json").stdout), &list); err != nil || len(list) != 1 || list[0].Name != ref {
				t.Errorf("images --format json: %v %+v", err, list)
			}
			// skopeo reads stockade's content store as an OCI layout.
			out := sh(t, "skopeo", "inspect", "oci:"+filepath.Join(e.root, "content")+":"+ref)
			if !strings.Contains(out, rec.Layers[2].Digest) {
				t.Errorf("skopeo inspect of the content store lacks the top layer:\n%s", out)
			}
		})
	}
}

// TestPushReadBySkopeo pushes a pulled image under a new name recompressed
// to zstd and checks what skopeo and umoci read back.
func TestPushReadBySkopeo(t *testing.T) {
	reg := startRegistry(t)
	layout := umociImage(t, writeFiles(map[string]string{"bin/app": "app", "data/x": strings.Repeat("x", 100000)}))
	src := reg.addr + "/e2e/src:1"
	pushLayout(t, layout, src, "gzip")
	e := newEnv(t)
	e.must("pull", src)
	for _, compression := range []string{"zstd", "gzip"} {
		dst := reg.addr + "/e2e/pushed:" + compression
		e.must("push", "--compression", compression, src, dst)
		var m struct {
			Layers []string `json:"Layers"`
		}
		out := sh(t, "skopeo", "inspect", "--tls-verify=false", "docker://"+dst)
		if err := json.Unmarshal([]byte(out), &m); err != nil || len(m.Layers) != 1 {
			t.Fatalf("skopeo inspect: %v %s", err, out)
		}
		raw := sh(t, "skopeo", "inspect", "--raw", "--tls-verify=false", "docker://"+dst)
		if !strings.Contains(raw, "tar+"+compression) {
			t.Errorf("pushed manifest is not %s: %s", compression, raw)
		}
		// A full copy back verifies every digest; the layer then unpacks
		// with the system's own zstd/gzip and tar.
		back := filepath.Join(t.TempDir(), "back")
		sh(t, "skopeo", "copy", "-q", "--src-tls-verify=false", "docker://"+dst, "dir:"+back)
		layer := filepath.Join(back, strings.TrimPrefix(m.Layers[0], "sha256:"))
		out = filepath.Join(t.TempDir(), "out")
		if err := os.Mkdir(out, 0o755); err != nil {
			t.Fatal(err)
		}
		decomp := "gzip"
		if compression == "zstd" {
			decomp = "zstd"
		}
		sh(t, "sh", "-c", decomp+` -dc "$1" | tar -x -C "$2"`, "sh", layer, out)
		if got := readFile(t, filepath.Join(out, "data/x")); got != strings.Repeat("x", 100000) {
			t.Errorf("data/x differs after the round trip (%d bytes)", len(got))
		}
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	reg := startRegistry(t)
	layout := umociImage(t, writeFiles(map[string]string{"bin/app": "app", "etc/hostname": "exported\n"}))
	src := reg.addr + "/e2e/export:1"
	pushLayout(t, layout, src, "")
	e := newEnv(t)
	e.must("pull", src)
	tarFile := filepath.Join(t.TempDir(), "img.tar")
	e.must("image", "export", src, tarFile)
	if out := sh(t, "skopeo", "inspect", "oci-archive:"+tarFile); !strings.Contains(out, `"Layers"`) {
		t.Errorf("skopeo cannot read the export: %s", out)
	}
	e2 := newEnv(t)
	r := e2.must("image", "import", tarFile)
	if !strings.Contains(r.stdout, "sha256:") {
		t.Errorf("import output: %q", r.stdout)
	}
	name := strings.Fields(strings.TrimSpace(r.stdout))[1]
	if got := readFile(t, filepath.Join(e2.rootfs(name), "etc/hostname")); got != "exported\n" {
		t.Errorf("etc/hostname after import = %q", got)
	}
}

func TestTagAndRemove(t *testing.T) {
	reg := startRegistry(t)
	layout := umociImage(t, writeFiles(map[string]string{"bin/app": "app"}))
	src := reg.addr + "/e2e/tag:1"
	pushLayout(t, layout, src, "")
	e := newEnv(t)
	e.must("pull", src)
	e.must("tag", src, "local/copy:2")
	names := e.must("images").stdout
	if !strings.Contains(names, src) || !strings.Contains(names, "local/copy:2") {
		t.Fatalf("images after tag: %q", names)
	}
	e.must("rmi", src)
	// The other name keeps the content alive.
	root := e.rootfs("local/copy:2")
	if got := readFile(t, filepath.Join(root, "bin/app")); got != "app" {
		t.Errorf("bin/app = %q", got)
	}
	unmountUnder(e.dir)
	e.must("rmi", "local/copy:2")
	if out := e.must("images", "-q").stdout; strings.TrimSpace(out) != "" {
		t.Errorf("images left: %q", out)
	}
	blobs, _ := filepath.Glob(filepath.Join(e.root, "content", "blobs", "sha256", "*"))
	if len(blobs) != 0 {
		t.Errorf("%d blobs left after removing every image", len(blobs))
	}
	r := e.run("rmi", "no/such:image")
	if r.code != 125 || !strings.Contains(r.stderr, "no/such:image") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("rmi of a missing image: %s", r)
	}
}

// TestPullErrors checks the one-line errors and that nothing is left.
func TestPullErrors(t *testing.T) {
	reg := startRegistry(t)
	tests := []struct {
		name string
		ref  string
		want string
	}{
		{"bad reference", "UPPER/Case::x", "UPPER/Case::x"},
		{"missing repository", reg.addr + "/no/such:1", reg.addr + "/no/such:1"},
		{"nothing listening", fmt.Sprintf("127.0.0.1:%d/x:1", freePort(t)), "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.run("pull", tt.ref)
			if r.code != 125 {
				t.Errorf("exit %d, want 125", r.code)
			}
			if strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr must be one line naming %q: %q", tt.want, r.stderr)
			}
			if out := e.must("images", "-q").stdout; out != "" {
				t.Errorf("a failed pull left an image: %q", out)
			}
		})
	}
}

func TestPullJSONLogs(t *testing.T) {
	reg := startRegistry(t)
	layout := umociImage(t, writeFiles(map[string]string{"bin/app": "app"}))
	ref := reg.addr + "/e2e/json:1"
	pushLayout(t, layout, ref, "")
	e := newEnv(t)
	for _, args := range [][]string{
		{"--log-format", "json", "--log-level", "debug", "pull", ref},
		{"--log-format", "json", "--log-level", "debug", "pull", reg.addr + "/e2e/missing:1"},
	} {
		r := e.run(args...)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.stderr == "" {
			lines = nil
		}
		for _, line := range lines {
			var obj map[string]any
			if err := json.Unmarshal([]byte(line), &obj); err != nil {
				t.Errorf("stderr line is not JSON: %q", line)
				continue
			}
			for _, k := range []string{"time", "level", "msg"} {
				if _, ok := obj[k]; !ok {
					t.Errorf("line lacks %q: %q", k, line)
				}
			}
		}
		if r.code != 0 && len(lines) == 0 {
			t.Errorf("failed pull logged nothing")
		}
	}
}

// TestConcurrentPulls runs two pulls of the same image at once: both
// succeed and each blob is stored once.
func TestConcurrentPulls(t *testing.T) {
	reg := startRegistry(t)
	layout := umociImage(t, writeFiles(map[string]string{"bin/app": "app", "big": strings.Repeat("0123456789", 300000)}),
		writeFiles(map[string]string{"second": "2"}))
	ref := reg.addr + "/e2e/race:1"
	pushLayout(t, layout, ref, "zstd")
	e := newEnv(t)
	var wg sync.WaitGroup
	results := make([]result, 3)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = e.run("pull", ref)
		}(i)
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("pull %d: %s", i, r)
		}
	}
	rec := e.inspectImage(ref)
	for _, l := range rec.Layers {
		hexd := strings.TrimPrefix(l.Digest, "sha256:")
		matches, _ := filepath.Glob(filepath.Join(e.root, "content", "blobs", "sha256", hexd+"*"))
		if len(matches) != 1 {
			t.Errorf("layer %s stored %d times", l.Digest, len(matches))
		}
	}
	if got := readFile(t, filepath.Join(e.rootfs(ref), "second")); got != "2" {
		t.Errorf("second = %q", got)
	}
}

// TestPullKilledThenResumed kills a pull with SIGKILL mid-way; the next pull
// completes and the result is intact.
func TestPullKilledThenResumed(t *testing.T) {
	reg := startRegistry(t)
	big := make([]byte, 24<<20)
	for i := range big {
		big[i] = byte(i*7 + i/4096) // poorly compressible enough to take a while
	}
	layout := umociImage(t, writeFiles(map[string]string{"bin/app": "app", "big": string(big)}))
	ref := reg.addr + "/e2e/kill:1"
	pushLayout(t, layout, ref, "gzip")
	e := newEnv(t)
	for _, delay := range []time.Duration{150 * time.Millisecond, 400 * time.Millisecond} {
		cmd := exec.Command(stockadeBin, "--root", e.root, "--state", e.state, "--config", filepath.Join(e.dir, "stockade.toml"), "pull", ref)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
	e.must("pull", ref)
	sum := sha256.Sum256(big)
	got := sha256.Sum256([]byte(readFile(t, filepath.Join(e.rootfs(ref), "big"))))
	if hex.EncodeToString(got[:]) != hex.EncodeToString(sum[:]) {
		t.Error("big differs after an interrupted pull")
	}
}
