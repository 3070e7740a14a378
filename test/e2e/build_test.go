package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildNeedRoot fails under CI and skips elsewhere when not root: builds
// run containers and mount overlays.
func buildNeedRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("the build tests run containers and need root")
		}
		t.Skip("needs root")
	}
}

// buildContext copies testdata/build to a new directory and adds what git
// does not keep: a gzipped tar for ADD (a directory with mode 0750 and
// owner 7:8) and files the ignore file must hide from COPY.
func buildContext(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ctx")
	sh(t, "cp", "-a", "testdata/build", dir)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	mtime := time.Unix(1700000000, 0)
	for _, h := range []*tar.Header{
		{Name: "top/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 7, Gid: 8, ModTime: mtime},
		{Name: "top/sub/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime},
		{Name: "top/sub/f", Typeflag: tar.TypeReg, Mode: 0o640, Uid: 7, Gid: 8, Size: 3, ModTime: mtime},
		{Name: "top/ln", Typeflag: tar.TypeSymlink, Linkname: "sub/f", ModTime: mtime},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("in\n"))
		}
	}
	tw.Close()
	zw.Close()
	for name, data := range map[string][]byte{
		"archive.tar.gz":  buf.Bytes(),
		"secret.txt":      []byte("ignored\n"),
		"files/debug.log": []byte("ignored\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// buildResult is `build --format json`'s output.
type buildResult struct {
	ID    string   `json:"id"`
	Names []string `json:"names"`
	Steps []struct {
		Number      int    `json:"number"`
		Instruction string `json:"instruction"`
		Cached      bool   `json:"cached"`
		Layer       bool   `json:"layer"`
	} `json:"steps"`
}

func (e *env) buildJSON(args ...string) buildResult {
	e.t.Helper()
	r := e.must(append([]string{"build", "--format", "json"}, args...)...)
	var res buildResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		e.t.Fatalf("build --format json: %v\n%s", err, r)
	}
	return res
}

// treeEntry describes one file of an unpacked root for the comparison.
func treeEntries(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		desc := fmt.Sprintf("%s %o %d:%d", fi.Mode().Type(), st.Mode&0o7777, st.Uid, st.Gid)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" %x", sha256.Sum256(data))
		}
		rel, _ := filepath.Rel(root, p)
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// unpackFromRegistry copies ref out of the registry into an OCI layout and
// unpacks it with umoci (whiteouts applied); it returns the root and the
// image config.
func unpackFromRegistry(t *testing.T, ref string) (string, map[string]any) {
	t.Helper()
	dir := t.TempDir()
	layout := filepath.Join(dir, "layout")
	sh(t, "skopeo", "copy", "-q", "--src-tls-verify=false", "docker://"+ref, "oci:"+layout+":t")
	return unpackLayout(t, layout, dir)
}

func unpackLayout(t *testing.T, layout, dir string) (string, map[string]any) {
	t.Helper()
	bundle := filepath.Join(dir, "bundle")
	sh(t, "umoci", "unpack", "--image", layout+":t", bundle)
	raw := sh(t, "skopeo", "inspect", "--config", "--raw", "oci:"+layout+":t")
	var cfg struct {
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatalf("config: %v\n%s", err, raw)
	}
	return filepath.Join(bundle, "rootfs"), cfg.Config
}

// buildahOnly are what buildah's RUN leaves in an image (its mount points
// and empty /etc files) that stockade's does not.
var buildahOnly = map[string]bool{
	"dev": true, "proc": true, "sys": true, "run": true,
	"etc/hosts": true, "etc/hostname": true, "etc/resolv.conf": true,
}

// TestBuildMatchesBuildah builds testdata/build (a multi-stage
// Containerfile with every instruction build supports) with stockade and
// with buildah from the same context, and compares the two images file by
// file and config by config. Stockade's is pushed to the loopback
// registry and read back from there; it runs and prints what it built.
func TestBuildMatchesBuildah(t *testing.T) {
	buildNeedRoot(t)
	need(t, "buildah", "skopeo", "umoci", "runc")
	reg := startRegistry(t)
	base := busyboxImage(t, reg)
	ctxDir := buildContext(t)
	e := newEnv(t)

	res := e.buildJSON("-t", "e2e/built:1", "--build-arg", "BASE="+base, "--build-arg", "VERSION=2.5", "--label", "extra=yes", ctxDir)
	if !strings.HasPrefix(res.ID, "sha256:") || len(res.Steps) != 26 {
		t.Fatalf("build result: %+v", res)
	}
	dest := reg.addr + "/e2e/built:1"
	e.must("push", "e2e/built:1", dest)
	ours, ourCfg := unpackFromRegistry(t, dest)

	bdir := t.TempDir()
	buildah := func(args ...string) string {
		t.Helper()
		full := append([]string{"--root", filepath.Join(bdir, "root"), "--runroot", filepath.Join(bdir, "run"), "--storage-driver", "vfs"}, args...)
		return sh(t, "buildah", full...)
	}
	t.Cleanup(func() {
		exec.Command("buildah", "--root", filepath.Join(bdir, "root"), "--runroot", filepath.Join(bdir, "run"), "--storage-driver", "vfs", "rm", "--all").Run()
		unmountUnder(bdir)
	})
	buildah("bud", "--isolation", "chroot", "--layers", "--format", "docker", "--tls-verify=false",
		"-t", "built", "--build-arg", "BASE="+base, "--build-arg", "VERSION=2.5", "--label", "extra=yes", ctxDir)
	layout := filepath.Join(bdir, "layout")
	buildah("push", "-q", "built", "oci:"+layout+":t")
	theirs, theirCfg := unpackLayout(t, layout, bdir)

	a, b := treeEntries(t, ours), treeEntries(t, theirs)
	var diffs []string
	for p := range b {
		if _, ok := a[p]; !ok && buildahOnly[p] {
			delete(b, p)
		}
	}
	for _, p := range sortedKeys(a, b) {
		if a[p] != b[p] {
			diffs = append(diffs, fmt.Sprintf("%s: stockade %q, buildah %q", p, a[p], b[p]))
		}
	}
	if len(diffs) > 0 {
		t.Errorf("the images differ:\n%s", strings.Join(diffs, "\n"))
	}
	if len(a) < 20 {
		t.Errorf("only %d files compared", len(a))
	}
	// Files the Containerfile's steps leave, read back as they must be.
	for p, want := range map[string]string{
		"srv/app/version.txt":         "version 2.5\n",
		"opt/tools/greeting":          "hello from tools\n",
		"srv/app/from-tools/greeting": "hello from tools\n",
		"opt/plain.txt":               "plain text, copied as it is\n",
		"opt/unpacked/top/sub/f":      "in\n",
		"etc/app/a.conf":              "a = 1\n",
	} {
		if got, err := os.ReadFile(filepath.Join(ours, p)); err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", p, got, err, want)
		}
	}
	for _, p := range []string{"srv/app/remove-me", "srv/app/debug.log", "secret.txt", "etc/app/c.ini"} {
		if _, ok := a[p]; ok {
			t.Errorf("%s is in the image", p)
		}
	}
	if got := a["srv/app/bin/tool"]; !strings.Contains(got, " 4755 0:0 ") {
		t.Errorf("srv/app/bin/tool: %s, want setuid 4755 root", got)
	}

	// Config by config.
	normEnv := func(c map[string]any) []string {
		var env []string
		for _, v := range c["Env"].([]any) {
			env = append(env, v.(string))
		}
		sort.Strings(env)
		return env
	}
	if x, y := normEnv(ourCfg), normEnv(theirCfg); !reflect.DeepEqual(x, y) {
		t.Errorf("Env: stockade %v, buildah %v", x, y)
	}
	if l, ok := theirCfg["Labels"].(map[string]any); ok {
		delete(l, "io.buildah.version")
	}
	for _, k := range []string{"Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Labels", "Volumes", "StopSignal"} {
		if !reflect.DeepEqual(ourCfg[k], theirCfg[k]) {
			t.Errorf("config %s: stockade %v, buildah %v", k, ourCfg[k], theirCfg[k])
		}
	}
	// An OCI layout drops Docker's extensions: buildah's own record of
	// its docker-format image has them.
	var inspect struct {
		Docker struct {
			Config map[string]any `json:"config"`
		}
	}
	if err := json.Unmarshal([]byte(buildah("inspect", "--type", "image", "built")), &inspect); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"Healthcheck", "OnBuild", "Shell"} {
		if !reflect.DeepEqual(ourCfg[k], inspect.Docker.Config[k]) {
			t.Errorf("config %s: stockade %v, buildah %v", k, ourCfg[k], inspect.Docker.Config[k])
		}
	}
	if ourCfg["Healthcheck"] == nil || ourCfg["OnBuild"] == nil {
		t.Errorf("HEALTHCHECK or ONBUILD missing from the config: %v", ourCfg)
	}

	// The built image runs like a pulled one.
	r := e.must("run", "--rm", "--network", "none", "e2e/built:1")
	if r.stdout != "hello from tools\nversion 2.5\n" {
		t.Errorf("run the built image: %q", r.stdout)
	}
	if out := e.must("images").stdout; !strings.Contains(out, "e2e/built") {
		t.Errorf("images does not list the build:\n%s", out)
	}
}

func sortedKeys(ms ...map[string]string) []string {
	set := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			set[k] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestBuildCache: an unchanged rebuild takes every step from the cache
// and gives the same image id; after one copied file changes, the steps
// before its COPY come from the cache and that COPY and every later step
// are built again; --no-cache builds everything.
func TestBuildCache(t *testing.T) {
	buildNeedRoot(t)
	reg := startRegistry(t)
	base := busyboxImage(t, reg)
	ctxDir := buildContext(t)
	e := newEnv(t)
	args := []string{"-t", "cached:1", "--build-arg", "BASE=" + base, ctxDir}

	first := e.buildJSON(args...)
	for _, s := range first.Steps {
		if s.Cached && !strings.HasPrefix(s.Instruction, "ARG") && !strings.HasPrefix(s.Instruction, "FROM") {
			t.Errorf("first build: step %d %s came from the cache", s.Number, s.Instruction)
		}
	}
	again := e.buildJSON(args...)
	if again.ID != first.ID {
		t.Errorf("unchanged rebuild: id %s, first %s", again.ID, first.ID)
	}
	for _, s := range again.Steps {
		if !s.Cached {
			t.Errorf("unchanged rebuild: step %d %s was built again", s.Number, s.Instruction)
		}
	}
	if q := strings.TrimSpace(e.must("build", "-q", args[0], args[1], args[2], args[3], args[4]).stdout); q != first.ID {
		t.Errorf("build -q printed %q, want only the id %s", q, first.ID)
	}

	if err := os.WriteFile(filepath.Join(ctxDir, "files", "index.html"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	changed := e.buildJSON(args...)
	if changed.ID == first.ID {
		t.Fatal("a changed file gave the same image")
	}
	rebuilt := false
	for _, s := range changed.Steps {
		if s.Instruction == "COPY files/ ./" {
			rebuilt = true
		}
		if s.Cached == rebuilt && !strings.HasPrefix(s.Instruction, "ARG") {
			t.Errorf("after changing files/index.html: step %d %s cached=%v", s.Number, s.Instruction, s.Cached)
		}
	}
	if !rebuilt {
		t.Fatal("no COPY files/ ./ step")
	}
	r := e.must("run", "--rm", "--network", "none", "--entrypoint", "cat", "cached:1", "/srv/app/index.html")
	if r.stdout != "changed\n" {
		t.Errorf("rebuilt image has index.html %q", r.stdout)
	}

	none := e.buildJSON(append([]string{"--no-cache"}, args...)...)
	for _, s := range none.Steps {
		if s.Cached && !strings.HasPrefix(s.Instruction, "ARG") && !strings.HasPrefix(s.Instruction, "FROM") {
			t.Errorf("--no-cache: step %d %s came from the cache", s.Number, s.Instruction)
		}
	}
}

// TestBuildTarget builds only the first stage.
func TestBuildTarget(t *testing.T) {
	buildNeedRoot(t)
	reg := startRegistry(t)
	base := busyboxImage(t, reg)
	ctxDir := buildContext(t)
	e := newEnv(t)
	res := e.buildJSON("-t", "tools:1", "--target", "tools", "--build-arg", "BASE="+base, ctxDir)
	if len(res.Steps) != 5 {
		t.Errorf("--target tools built %d steps, want 5", len(res.Steps))
	}
	r := e.run("run", "--rm", "--network", "none", "tools:1", "sh", "-c", "cat /opt/tools/greeting; ls /srv 2>&1")
	if !strings.Contains(r.stdout, "hello from tools") || !strings.Contains(r.stdout, "No such file") {
		t.Errorf("--target tools image: %q", r.stdout)
	}
	if r := e.run("build", "--target", "nosuch", "--build-arg", "BASE="+base, ctxDir); r.code == 0 || !strings.Contains(r.stderr, "--target nosuch") {
		t.Errorf("unknown --target: %s", r)
	}
}

// writeContext makes a context with a Containerfile and files.
func writeContext(t *testing.T, containerfile string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files["Containerfile"] = containerfile
	for name, data := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if target, ok := strings.CutPrefix(data, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// assertNothingLeft checks that a failed build left no container, no
// build view and nothing for system check to repair.
func assertNothingLeft(t *testing.T, e *env) {
	t.Helper()
	if ids := strings.TrimSpace(e.must("ps", "-a", "-q").stdout); ids != "" {
		t.Errorf("containers left behind: %s", ids)
	}
	if entries, _ := os.ReadDir(filepath.Join(e.state, "build")); len(entries) > 0 {
		t.Errorf("build views left behind: %v", entries)
	}
	if r := e.run("system", "check"); r.code != 0 {
		t.Errorf("system check after the failed build: %s", r)
	}
}

// TestBuildFailures: a failing RUN names the step and its exit code and
// leaves nothing behind; RUN's output reaches the user; hostile COPY
// sources, ADD of a URL and a bad Containerfile are refused with a
// one-line error naming what is wrong, and no image is made.
func TestBuildFailures(t *testing.T) {
	buildNeedRoot(t)
	reg := startRegistry(t)
	base := busyboxImage(t, reg)
	e := newEnv(t)
	e.must("pull", "-q", base)

	ctxDir := writeContext(t, "FROM "+base+"\nRUN echo streamed-output\nRUN echo before-failing; exit 3\nRUN echo never\n", map[string]string{})
	r := e.run("build", "-t", "fails:1", ctxDir)
	if r.code != 1 || !strings.Contains(r.stderr, "step 3/4 RUN echo before-failing; exit 3: exit code 3") {
		t.Errorf("failing RUN: %s", r)
	}
	if !strings.Contains(r.stdout, "streamed-output") || !strings.Contains(r.stdout, "before-failing") || strings.Contains(r.stdout, "never") {
		t.Errorf("RUN output: %q", r.stdout)
	}
	if e.run("image", "inspect", "fails:1").code == 0 {
		t.Error("the failed build made an image")
	}
	assertNothingLeft(t, e)

	for _, tc := range []struct {
		name, file string
		files      map[string]string
		want       string
	}{
		{"dotdot", "FROM " + base + "\nCOPY ../outside /x\n", map[string]string{}, `source "../outside": outside the build context`},
		{"symlink out", "FROM " + base + "\nCOPY evil /x\n", map[string]string{"evil": "->/etc/passwd"}, `source "evil": symlink evil -> /etc/passwd: outside the build context`},
		{"symlink up", "FROM " + base + "\nCOPY dir/up /x\n", map[string]string{"dir/up": "->../../../etc/shadow"}, "outside the build context"},
		{"url", "FROM " + base + "\nADD https://example.com/file /x\n", map[string]string{}, "ADD of a URL is not supported"},
		{"missing", "FROM " + base + "\nCOPY nosuch /x\n", map[string]string{}, `source "nosuch": no such file or directory`},
		{"ignored", "FROM " + base + "\nCOPY secret /x\n", map[string]string{"secret": "s", ".dockerignore": "secret\n"}, `source "secret": no such file or directory`},
		{"unknown instruction", "FROM " + base + "\nBOGUS x\n", map[string]string{}, "Containerfile:2: unknown instruction: BOGUS"},
		{"RUN --mount", "FROM " + base + "\nRUN --mount=type=cache,target=/c true\n", map[string]string{}, "Containerfile:2: RUN --mount is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeContext(t, tc.file, tc.files)
			r := e.run("build", "-t", "bad:1", dir)
			if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("want an error with %q: %s", tc.want, r)
			}
			if n := strings.Count(strings.TrimSpace(r.stderr), "\n"); n > 0 {
				t.Errorf("the error is %d lines: %q", n+1, r.stderr)
			}
			if e.run("image", "inspect", "bad:1").code == 0 {
				t.Error("the refused build made an image")
			}
		})
	}
	assertNothingLeft(t, e)
}

// TestBuildInterrupted: SIGINT while a RUN's container is being made and
// started, and SIGINT while it runs, end the build with nothing left for
// system check to repair; the next build works.
func TestBuildInterrupted(t *testing.T) {
	buildNeedRoot(t)
	reg := startRegistry(t)
	base := busyboxImage(t, reg)
	e := newEnv(t)
	e.must("pull", "-q", base)
	// The marker is computed so that the step line does not show it.
	ctxDir := writeContext(t, "FROM "+base+"\nRUN echo $((6*7))-started; sleep 60\n", map[string]string{})
	for _, when := range []string{"STEP 2/2", "42-started"} {
		cmd := e.command(context.Background(), "build", ctxDir)
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for !strings.Contains(out.String(), when) {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("no %q: %s", when, out.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		start := time.Now()
		cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err == nil {
			t.Fatalf("the build interrupted at %q succeeded: %s", when, out.String())
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("the build took %s to stop", d)
		}
		if strings.Contains(out.String(), "level=WARN") {
			t.Errorf("interrupted at %q: %s", when, out.String())
		}
		assertNothingLeft(t, e)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	quick := writeContext(t, "FROM "+base+"\nRUN echo ok > /ok\n", map[string]string{})
	if r := e.runCtx(ctx, "build", "-q", quick); r.code != 0 {
		t.Errorf("build after the interrupted ones: %s", r)
	}
}

// TestBuildParallel: two builds of one context at once both succeed, and
// the cache they filled together serves a third build whole, with the id
// of one of them; nothing is left for system check to repair.
func TestBuildParallel(t *testing.T) {
	buildNeedRoot(t)
	reg := startRegistry(t)
	base := busyboxImage(t, reg)
	e := newEnv(t)
	e.must("pull", "-q", base)
	ctxDir := writeContext(t, "FROM "+base+"\nCOPY a /a\nRUN echo one > /one\nCOPY b /b\nRUN echo two > /two\nCMD [\"cat\", \"/a\", \"/b\", \"/one\", \"/two\"]\n",
		map[string]string{"a": "a\n", "b": "b\n"})
	type out struct {
		res buildResult
		r   result
	}
	done := make(chan out, 2)
	for i := 0; i < 2; i++ {
		go func() {
			cmd := e.command(context.Background(), "build", "--format", "json", ctxDir)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			o := out{r: result{stdout: stdout.String(), stderr: stderr.String()}}
			if err != nil {
				o.r.code = -1
			}
			json.Unmarshal(stdout.Bytes(), &o.res)
			done <- o
		}()
	}
	ids := map[string]bool{}
	for i := 0; i < 2; i++ {
		o := <-done
		if o.r.code != 0 || o.res.ID == "" {
			t.Fatalf("parallel build: %s", o.r)
		}
		ids[o.res.ID] = true
	}
	third := e.buildJSON(ctxDir)
	if !ids[third.ID] {
		t.Errorf("third build %s, the parallel ones %v", third.ID, ids)
	}
	for _, s := range third.Steps {
		if !s.Cached {
			t.Errorf("third build: step %d %s was built again", s.Number, s.Instruction)
		}
	}
	if r := e.must("run", "--rm", "--network", "none", third.ID); r.stdout != "a\nb\none\ntwo\n" {
		t.Errorf("run: %q", r.stdout)
	}
	assertNothingLeft(t, e)
}

// TestBuildOptions: every -t names the image, no -t leaves it untagged
// (listed as <none>); --compression zstd makes zstd layers; --pull pulls
// the base (it is not there yet); after system prune
// removes the build cache's images, the next build builds every step.
func TestBuildOptions(t *testing.T) {
	buildNeedRoot(t)
	reg := startRegistry(t)
	base := busyboxImage(t, reg)
	e := newEnv(t)
	ctxDir := writeContext(t, "FROM "+base+"\nCOPY a /a\nRUN echo built > /b\n", map[string]string{"a": "a\n"})

	res := e.buildJSON("--pull", "--compression", "zstd", "--label", "k=v", "-t", "one:1", "-t", "two:1", ctxDir)
	for _, n := range []string{"one:1", "two:1"} {
		rec := e.inspectImage(n)
		if rec.ID != res.ID {
			t.Errorf("%s is %s, the build %s", n, rec.ID, res.ID)
		}
		zstd := 0
		for _, l := range rec.Layers {
			if strings.HasSuffix(l.MediaType, "+zstd") {
				zstd++
			}
		}
		if zstd != 2 {
			t.Errorf("%s: %d zstd layers, want the 2 built ones: %+v", n, zstd, rec.Layers)
		}
	}
	if out := e.must("run", "--rm", "--network", "none", "one:1", "cat", "/a", "/b").stdout; out != "a\nbuilt\n" {
		t.Errorf("run one:1: %q", out)
	}

	untagged := e.buildJSON("--label", "untagged=1", ctxDir)
	if len(untagged.Names) != 0 {
		t.Errorf("untagged build named %v", untagged.Names)
	}
	short := strings.TrimPrefix(untagged.ID, "sha256:")[:12]
	if out := e.must("images").stdout; !strings.Contains(out, short) || !strings.Contains(out, "<none>") {
		t.Errorf("images does not list the untagged build %s as <none>:\n%s", short, out)
	}

	e.must("system", "prune", "-f")
	after := e.buildJSON("-t", "one:1", ctxDir)
	for _, s := range after.Steps {
		if s.Cached && (strings.HasPrefix(s.Instruction, "COPY") || strings.HasPrefix(s.Instruction, "RUN")) {
			t.Errorf("after system prune: step %d %s came from the cache", s.Number, s.Instruction)
		}
	}
}
