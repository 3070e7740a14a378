package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stockade/stockade/internal/testenv"
	"github.com/stockade/stockade/linux/overlay"
	"github.com/stockade/stockade/metadata"
	"github.com/stockade/stockade/mount"
	"github.com/stockade/stockade/snapshot"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain())
	}
	code := m.Run()
	if cryptKeys.dir != "" {
		os.RemoveAll(cryptKeys.dir)
	}
	os.Exit(code)
}

// fastRetry keeps retry tests quick.
var fastRetry = retryPolicy{Attempts: 5, Backoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, ResponseTimeout: 2 * time.Second, StallTimeout: 2 * time.Second}

// newTestService returns a service over a fresh data root, a fake
// snapshotter and a real metadata store.
func newTestService(t testing.TB) (*Service, *testSnapshots) {
	t.Helper()
	return newServiceAt(t, t.TempDir())
}

func newServiceAt(t testing.TB, root string) (*Service, *testSnapshots) {
	t.Helper()
	s, err := openTestService(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Snapshotter.Close() })
	return s, &testSnapshots{s.Snapshotter}
}

// openTestService opens a service over root with the real overlay
// snapshotter when it works here (Linux, root, overlayfs), else the fake;
// in CI on Linux the overlay snapshotter must work.
// STOCKADE_TEST_SNAPSHOTTER=fake forces the fake.
func openTestService(root string) (*Service, error) {
	db, err := metadata.Open(context.Background(), filepath.Join(root, metadata.FileName))
	if err != nil {
		return nil, err
	}
	var sn snapshot.Snapshotter
	name := "overlay"
	if os.Getenv("STOCKADE_TEST_SNAPSHOTTER") != "fake" {
		o, err := overlay.New(filepath.Join(root, "snapshots"))
		switch {
		case err == nil:
			sn = o
		case runtime.GOOS == "linux" && testenv.InCI():
			return nil, fmt.Errorf("the overlay snapshotter is unavailable in CI: %w", err)
		}
	}
	if sn == nil {
		sn, name = newFakeSnapshotter(filepath.Join(root, "snapshots")), "fake"
	}
	r := fastRetry
	return &Service{
		DataRoot:        root,
		DB:              db,
		Snapshotter:     sn,
		SnapshotterName: name,
		Log:             slog.New(slog.NewTextHandler(io.Discard, nil)),
		retry:           &r,
	}, nil
}

// testSnapshots inspects whatever snapshotter a test service uses.
type testSnapshots struct{ snapshot.Snapshotter }

// snapshots lists the snapshots by name and kind.
func (ts *testSnapshots) snapshots() map[string]snapshot.Kind {
	out := map[string]snapshot.Kind{}
	ts.Walk(context.Background(), func(_ context.Context, i snapshot.Info) error {
		out[i.Name] = i.Kind
		return nil
	})
	return out
}

// tentry is one tar entry of a test layer.
type tentry struct {
	name string
	body string // file content
	typ  byte   // tar.TypeReg (default), tar.TypeDir, tar.TypeSymlink
	link string
}

func file(name, body string) tentry { return tentry{name: name, body: body, typ: tar.TypeReg} }
func dir(name string) tentry        { return tentry{name: name, typ: tar.TypeDir} }
func whiteout(path string) tentry {
	d, b := filepath.Split(path)
	return tentry{name: d + ".wh." + b, typ: tar.TypeReg}
}

func makeTar(t testing.TB, entries []tentry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, ModTime: time.Unix(1700000000, 0)}
		switch e.typ {
		case tar.TypeDir:
			h.Mode = 0o755
		case tar.TypeSymlink:
			h.Linkname = e.link
		default:
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func compressBytes(t testing.TB, data []byte, c Compression) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch c {
	case Gzip:
		w := gzip.NewWriter(&buf)
		w.Write(data)
		w.Close()
	case Zstd:
		w, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
	default:
		return data
	}
	return buf.Bytes()
}

// testLayer is a layer blob with its descriptor and diff id.
type testLayer struct {
	blob   []byte
	desc   ocispec.Descriptor
	diffID digest.Digest
}

var ociLayerType = map[Compression]string{
	Uncompressed: ocispec.MediaTypeImageLayer,
	Gzip:         ocispec.MediaTypeImageLayerGzip,
	Zstd:         ocispec.MediaTypeImageLayerZstd,
}

func newLayer(t testing.TB, c Compression, entries ...tentry) testLayer {
	t.Helper()
	raw := makeTar(t, entries)
	blob := compressBytes(t, raw, c)
	return testLayer{
		blob:   blob,
		desc:   ocispec.Descriptor{MediaType: ociLayerType[c], Digest: digest.FromBytes(blob), Size: int64(len(blob))},
		diffID: digest.FromBytes(raw),
	}
}

// randomLayer makes a layer of n files of size bytes of random data.
func randomLayer(t testing.TB, c Compression, seed uint64, n, size int) testLayer {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var entries []tentry
	entries = append(entries, dir(fmt.Sprintf("data%d/", seed)))
	for i := 0; i < n; i++ {
		b := make([]byte, size)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		entries = append(entries, file(fmt.Sprintf("data%d/f%04d", seed, i), string(b)))
	}
	return newLayer(t, c, entries...)
}

// testImage is an image ready to push.
type testImage struct {
	manifest     []byte
	manifestDesc ocispec.Descriptor
	config       []byte
	configDesc   ocispec.Descriptor
	layers       []testLayer
}

func newImage(t testing.TB, p ocispec.Platform, layers ...testLayer) testImage {
	t.Helper()
	cfg := ocispec.Image{Platform: p, RootFS: ocispec.RootFS{Type: "layers"}}
	created := time.Unix(1700000000, 0).UTC()
	cfg.Created = &created
	cfg.Config.Cmd = []string{"/bin/sh"}
	for _, l := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.diffID)
	}
	cb, _ := json.Marshal(cfg)
	return assemble(t, cb, layers)
}

// assemble builds an OCI manifest for a raw config and layers.
func assemble(t testing.TB, config []byte, layers []testLayer) testImage {
	t.Helper()
	img := testImage{config: config, layers: layers}
	img.configDesc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: img.configDesc, Layers: []ocispec.Descriptor{}}
	m.SchemaVersion = 2
	for _, l := range layers {
		m.Layers = append(m.Layers, l.desc)
	}
	img.manifest, _ = json.Marshal(m)
	img.manifestDesc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(img.manifest), Size: int64(len(img.manifest))}
	return img
}

var linuxAmd64 = ocispec.Platform{OS: "linux", Architecture: "amd64"}

// push uploads an image to host/repo:tag over the distribution API.
func (img testImage) push(t testing.TB, host, repo, tag string) {
	t.Helper()
	for _, l := range img.layers {
		uploadBlob(t, host, repo, l.blob)
	}
	uploadBlob(t, host, repo, img.config)
	putManifest(t, host, repo, tag, img.manifestDesc.MediaType, img.manifest)
}

// pushIndex uploads the images and an index over them as host/repo:tag.
func pushIndex(t testing.TB, host, repo, tag string, imgs map[string]testImage) ocispec.Descriptor {
	t.Helper()
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex}
	idx.SchemaVersion = 2
	for plat, img := range imgs {
		img.push(t, host, repo, img.manifestDesc.Digest.String())
		p, err := ParsePlatform(plat)
		if err != nil {
			t.Fatal(err)
		}
		d := img.manifestDesc
		d.Platform = &p
		idx.Manifests = append(idx.Manifests, d)
	}
	data, _ := json.Marshal(idx)
	putManifest(t, host, repo, tag, ocispec.MediaTypeImageIndex, data)
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(data), Size: int64(len(data))}
}

func uploadBlob(t testing.TB, host, repo string, data []byte) {
	t.Helper()
	d := digest.FromBytes(data)
	base := "http://" + host
	resp, err := http.Post(base+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload: %s", resp.Status)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	u := (&url.URL{Scheme: "http", Host: host}).ResolveReference(loc)
	q := u.Query()
	q.Set("digest", d.String())
	u.RawQuery = q.Encode()
	req, _ := http.NewRequest(http.MethodPut, u.String(), bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload blob %s: %s %s", d, resp.Status, body)
	}
}

func putManifest(t testing.TB, host, repo, ref, mediaType string, data []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, "http://"+host+"/v2/"+repo+"/manifests/"+ref, bytes.NewReader(data))
	req.Header.Set("Content-Type", mediaType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("put manifest %s: %s %s", ref, resp.Status, body)
	}
}

// startGGCRRegistry runs go-containerregistry's registry in process and
// returns its host:port.
func startGGCRRegistry(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(nilLogger())))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// startDockerRegistry runs Debian's docker-registry on a random loopback
// port with storage in a temporary directory.
func startDockerRegistry(t testing.TB) string {
	t.Helper()
	bin := testenv.RequireCommand(t, "docker-registry")
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s/storage
  delete:
    enabled: true
http:
  addr: %s
`, dir, host)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return host
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("docker-registry did not start: %v\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// registries returns the registry backends to run a test against.
func registries() []struct {
	name  string
	start func(testing.TB) string
} {
	return []struct {
		name  string
		start func(testing.TB) string
	}{
		{"ggcr", startGGCRRegistry},
		{"docker-registry", startDockerRegistry},
	}
}

// assertNoLeftovers checks that a failed pull left no record, no active
// snapshot, no committed snapshot (unless allowed) and no temporary
// files (partials only when allowPartial).
func assertNoLeftovers(t *testing.T, s *Service, sn *testSnapshots, name string, allowCommitted []string, allowPartial bool) {
	t.Helper()
	if _, err := s.Get(context.Background(), name); err == nil {
		t.Errorf("record %s exists after a failed pull", name)
	}
	recs, _ := s.List(context.Background())
	if len(recs) != 0 {
		t.Errorf("records after a failed pull: %v", recs)
	}
	allowed := map[string]bool{}
	for _, c := range allowCommitted {
		allowed[c] = true
	}
	for n, k := range sn.snapshots() {
		if k != snapshot.KindCommitted || !allowed[n] {
			t.Errorf("snapshot %s (%s) left after a failed pull", n, k)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(s.ContentRoot(), "ingest"))
	for _, e := range entries {
		if allowPartial && strings.HasSuffix(e.Name(), ".partial") {
			continue
		}
		t.Errorf("ingest file %s left after a failed pull", e.Name())
	}
	root, _ := os.ReadDir(s.ContentRoot())
	for _, e := range root {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left in the content store", e.Name())
		}
	}
}

// readSnapshotFile reads a file of a committed snapshot, through a
// mounted view (or directly from the fake's directory).
func readSnapshotFile(t *testing.T, sn *testSnapshots, chain, path string) (string, bool) {
	t.Helper()
	if f, ok := sn.Snapshotter.(*fakeSnapshotter); ok {
		b, err := os.ReadFile(filepath.Join(f.dir(chain), "fs", path))
		return string(b), err == nil
	}
	ctx := context.Background()
	key := "view-" + randomHex(4)
	mounts, err := sn.View(ctx, key, chain)
	if err != nil {
		t.Fatalf("view %s: %v", chain, err)
	}
	defer sn.Remove(ctx, key)
	target := t.TempDir()
	if err := mount.All(mounts, target); err != nil {
		t.Fatalf("mount %v: %v", mounts, err)
	}
	defer mount.UnmountAll(target)
	b, err := os.ReadFile(filepath.Join(target, path))
	return string(b), err == nil
}

func nilLogger() *log.Logger { return log.New(io.Discard, "", 0) }
