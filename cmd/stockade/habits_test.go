package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// cliEnv is an isolated installation for in-process CLI tests: an empty
// configuration file, its own root and state, the copy snapshotter.
type cliEnv struct {
	t      *testing.T
	dir    string
	global []string
}

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "stockade.toml")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return &cliEnv{t: t, dir: dir, global: []string{"--config", conf, "--root", filepath.Join(dir, "root"), "--state", filepath.Join(dir, "state"), "--snapshotter", "copy"}}
}

// run runs a command of the installation.
func (e *cliEnv) run(args ...string) (code int, stdout, stderr string) {
	e.t.Helper()
	return runCLI(e.t, append(append([]string{}, e.global...), args...)...)
}

// must runs a command that has to succeed and returns its stdout.
func (e *cliEnv) must(args ...string) string {
	e.t.Helper()
	code, stdout, stderr := e.run(args...)
	if code != 0 {
		e.t.Fatalf("stockade %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	return stdout
}

// importImage writes an OCI layout tar holding one image of one
// uncompressed layer with the file "content" (which makes its id), named
// name, imports it and returns its config digest.
func (e *cliEnv) importImage(name, content string) digest.Digest {
	e.t.Helper()
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	lw.WriteHeader(&tar.Header{Name: "content", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)})
	lw.Write([]byte(content))
	lw.Close()
	layerDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(layer.Bytes()), Size: int64(layer.Len())}
	config, _ := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layerDesc.Digest}},
		Config:   ocispec.ImageConfig{Cmd: []string{"/content"}},
	})
	configDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))}
	manifest, _ := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: configDesc, Layers: []ocispec.Descriptor{layerDesc},
	})
	manifestDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(manifest), Size: int64(len(manifest)),
		Annotations: map[string]string{ocispec.AnnotationRefName: name}}
	index, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{manifestDesc}})

	file := filepath.Join(e.dir, digest.FromString(name).Encoded()[:8]+".tar")
	f, err := os.Create(file)
	if err != nil {
		e.t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	put := func(path string, b []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: path, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			e.t.Fatal(err)
		}
		tw.Write(b)
	}
	put(ocispec.ImageLayoutFile, []byte(`{"imageLayoutVersion":"1.0.0"}`))
	put(ocispec.ImageIndexFile, index)
	for _, b := range [][]byte{layer.Bytes(), config, manifest} {
		put("blobs/sha256/"+digest.FromBytes(b).Encoded(), b)
	}
	if err := tw.Close(); err != nil {
		e.t.Fatal(err)
	}
	f.Close()
	e.must("image", "import", file)
	return configDesc.Digest
}

// imageNames lists the image names, from images --format json.
func (e *cliEnv) imageNames() []string {
	e.t.Helper()
	var recs []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(e.must("images", "--format", "json")), &recs); err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, r := range recs {
		names = append(names, r.Name)
	}
	return names
}

// TestImagesQuietPrintsIDs: images -q prints ids, 12 hex digits of the
// config digest as docker does, one per name; --no-trunc the whole
// digest; -a is accepted (there are no intermediate images).
func TestImagesQuietPrintsIDs(t *testing.T) {
	e := newCLIEnv(t)
	a := e.importImage("local/a:1", "a")
	b := e.importImage("local/b:1", "b")
	e.must("tag", "local/a:1", "local/a:2")
	want := a.Encoded()[:12] + "\n" + a.Encoded()[:12] + "\n" + b.Encoded()[:12] + "\n"
	for _, args := range [][]string{{"images", "-q"}, {"images", "-aq"}, {"image", "ls", "--quiet", "--all"}} {
		if got := e.must(args...); got != want {
			t.Errorf("%v:\n got %q\nwant %q", args, got, want)
		}
	}
	if got := e.must("images", "-q", "--no-trunc"); got != a.String()+"\n"+a.String()+"\n"+b.String()+"\n" {
		t.Errorf("images -q --no-trunc: %q", got)
	}
	table := e.must("images", "--no-trunc")
	if !strings.Contains(table, b.String()) {
		t.Errorf("images --no-trunc does not show the full id:\n%s", table)
	}
}

// TestRmiForce follows docker's rules for images without containers: a
// name of an image with other names is untagged; an id of an image with
// several names is refused without -f and removes all of them with it.
func TestRmiForce(t *testing.T) {
	e := newCLIEnv(t)
	a := e.importImage("local/a:1", "a")
	e.must("tag", "local/a:1", "local/a:2")
	e.must("tag", "local/a:1", "local/a:3")

	if out := e.must("rmi", "local/a:3"); out != "Untagged: index.docker.io/local/a:3\n" {
		t.Errorf("rmi of one name: %q", out)
	}
	short := a.Encoded()[:12]
	code, _, stderr := e.run("rmi", short)
	wantErr := "stockade: rmi " + short + ": the image has 2 names (index.docker.io/local/a:1, index.docker.io/local/a:2): remove them by name, or use -f to remove them all\n"
	if code != 125 || stderr != wantErr {
		t.Errorf("rmi ID of an image with 2 names: exit %d %q, want 125 %q", code, stderr, wantErr)
	}
	if names := e.imageNames(); len(names) != 2 {
		t.Fatalf("a refused rmi removed names: %q", names)
	}
	out := e.must("rmi", "-f", short)
	if out != "Untagged: index.docker.io/local/a:1\nUntagged: index.docker.io/local/a:2\nDeleted: "+a.String()+"\n" {
		t.Errorf("rmi -f ID: %q", out)
	}
	if names := e.imageNames(); len(names) != 0 {
		t.Errorf("rmi -f ID left %q", names)
	}
	blobs, _ := filepath.Glob(filepath.Join(e.dir, "root", "content", "blobs", "sha256", "*"))
	if len(blobs) != 0 {
		t.Errorf("rmi -f left %d blobs", len(blobs))
	}
	code, _, stderr = e.run("image", "rm", "-f", "local/a:1")
	if code != 125 || stderr != "stockade: rmi local/a:1: no such image\n" {
		t.Errorf("rmi -f of a missing image: exit %d %q", code, stderr)
	}
}

// TestPruneNeedsForceWithoutTerminal: prune asks on a terminal; with
// stdin not a terminal and no -f it refuses in one line and removes
// nothing; -f -a removes images no container uses.
func TestPruneNeedsForceWithoutTerminal(t *testing.T) {
	e := newCLIEnv(t)
	e.importImage("local/a:1", "a")
	for _, args := range [][]string{{"system", "prune"}, {"system", "prune", "-a"}} {
		code, stdout, stderr := e.run(args...)
		want := "stockade: system prune: stdin is not a terminal to ask for confirmation: use -f to proceed without asking\n"
		if code != 125 || stderr != want || stdout != "" {
			t.Errorf("%v without a terminal: exit %d stdout %q stderr %q", args, code, stdout, stderr)
		}
	}
	if names := e.imageNames(); len(names) != 1 {
		t.Fatalf("a refused prune removed images: %q", names)
	}
	e.must("system", "prune", "-f")
	if names := e.imageNames(); len(names) != 1 {
		t.Fatalf("prune without --all removed an image: %q", names)
	}
	if out := e.must("system", "prune", "--force", "--all"); !strings.Contains(out, "removed image index.docker.io/local/a:1\n") {
		t.Errorf("prune -f --all: %q", out)
	}
	if names := e.imageNames(); len(names) != 0 {
		t.Errorf("prune -f --all left %q", names)
	}
}

// TestSystemDF: a summary by default (images, containers, volumes), one
// line per image with -v.
func TestSystemDF(t *testing.T) {
	e := newCLIEnv(t)
	a := e.importImage("local/a:1", "a")
	e.importImage("local/b:1", "bb")
	e.must("tag", "local/a:1", "local/a:2")
	sum := e.must("system", "df")
	lines := strings.Split(strings.TrimSuffix(sum, "\n"), "\n")
	if len(lines) != 4 || strings.Fields(lines[0])[0] != "TYPE" || !strings.HasPrefix(strings.Join(strings.Fields(lines[1]), " "), "Images 2 0 ") ||
		!strings.HasPrefix(strings.Join(strings.Fields(lines[2]), " "), "Containers 0 0 0 B 0 B") ||
		!strings.HasPrefix(strings.Join(strings.Fields(lines[3]), " "), "Local Volumes 0 0 0 B 0 B") {
		t.Errorf("system df:\n%s", sum)
	}
	v := e.must("system", "df", "-v")
	if !strings.HasPrefix(v, "Images space usage:\n") || !strings.Contains(v, "Containers space usage:") || !strings.Contains(v, "Local Volumes space usage:") ||
		strings.Count(v, a.Encoded()[:12]) != 2 || !strings.Contains(v, "index.docker.io/local/b:1") {
		t.Errorf("system df -v:\n%s", v)
	}
	var r dfReport
	if err := json.Unmarshal([]byte(e.must("system", "df", "--format", "json")), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Images) != 3 || len(r.Summary) != 3 || r.Summary[0].Total != 2 || r.Summary[0].Size == 0 || r.Summary[0].Reclaimable != r.Summary[0].Size {
		t.Errorf("system df --format json: %+v", r)
	}
}

// TestVersionAndInfoCommands: docker's top-level version and info.
func TestVersionAndInfoCommands(t *testing.T) {
	_, want, _ := runCLI(t, "--version")
	if code, out, _ := runCLI(t, "version"); code != 0 || out != want {
		t.Errorf("version: %d %q, want %q", code, out, want)
	}
	code, out, _ := runCLI(t, "version", "--format", "json")
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil || v.Version == "" || v.Spec != "1.3.0" || v.OS != runtime.GOOS || v.Arch != runtime.GOARCH {
		t.Errorf("version --format json: %d %q", code, out)
	}
	e := newCLIEnv(t)
	if info, sys := e.must("info"), e.must("system", "info"); info != sys || !strings.HasPrefix(info, "version:") {
		t.Errorf("info %q differs from system info %q", info, sys)
	}
	if code, _, stderr := e.run("version", "extra"); code != 125 || !strings.Contains(stderr, "wrong number of arguments") {
		t.Errorf("version extra: %d %q", code, stderr)
	}
}

// TestSystemInfoSnapshotter: system info names the snapshotter commands
// will use, and says when it is the automatic choice.
func TestSystemInfoSnapshotter(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "stockade.toml")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	global := []string{"--config", conf, "--root", filepath.Join(dir, "root"), "--state", filepath.Join(dir, "state")}
	// On FreeBSD the choice depends on the host's pools and unionfs.
	if runtime.GOOS != "linux" {
		t.Skip("the automatic choice is known in advance on Linux only")
	}
	auto := "overlay (automatic)"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, auto},
		{[]string{"--snapshotter", "copy"}, "copy"},
	} {
		code, out, stderr := runCLI(t, append(append(global, tc.args...), "system", "info")...)
		if code != 0 || !strings.Contains(out, "\nsnapshotter:         "+tc.want+"\n") {
			t.Errorf("%v system info: %d %s\n%s", tc.args, code, stderr, out)
		}
		code, out, _ = runCLI(t, append(append(global, tc.args...), "system", "info", "--format", "json")...)
		var info systemInfo
		if err := json.Unmarshal([]byte(out), &info); code != 0 || err != nil || info.Snapshotter != tc.want {
			t.Errorf("%v system info --format json: snapshotter %q, want %q", tc.args, info.Snapshotter, tc.want)
		}
	}
}

// TestAgo: CREATED and PULLED use the words of ps's STATUS column.
func TestAgo(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{300 * time.Millisecond, "Less than a second ago"},
		{time.Second, "1 second ago"},
		{22 * time.Second, "22 seconds ago"},
		{61 * time.Second, "About a minute ago"},
		{5 * time.Minute, "5 minutes ago"},
		{time.Hour, "About an hour ago"},
		{3 * time.Hour, "3 hours ago"},
		{72 * time.Hour, "3 days ago"},
	} {
		if got := ago(now, now.Add(-tc.d)); got != tc.want {
			t.Errorf("ago(%s) = %q, want %q", tc.d, got, tc.want)
		}
	}
	if got := ago(now, time.Time{}); got != "-" {
		t.Errorf("ago(zero) = %q", got)
	}
}
