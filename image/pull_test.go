package image

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stockade/stockade/internal/testenv"
	"github.com/stockade/stockade/snapshot"
)

func TestPull(t *testing.T) {
	type check struct {
		path string
		body string // "" means the path must not exist
	}
	freebsdArm := ocispec.Platform{OS: "freebsd", Architecture: "arm64"}
	cases := []struct {
		name     string
		build    func(t *testing.T, host string) // pushes host/demo:1
		platform string
		checks   []check
		layers   int
	}{
		{
			name: "gzip",
			build: func(t *testing.T, host string) {
				newImage(t, linuxAmd64, newLayer(t, Gzip, dir("etc/"), file("etc/hello", "gzip"))).push(t, host, "demo", "1")
			},
			checks: []check{{"etc/hello", "gzip"}},
			layers: 1,
		},
		{
			name: "zstd",
			build: func(t *testing.T, host string) {
				newImage(t, linuxAmd64, newLayer(t, Zstd, file("hello", "zstd"))).push(t, host, "demo", "1")
			},
			checks: []check{{"hello", "zstd"}},
			layers: 1,
		},
		{
			name: "uncompressed",
			build: func(t *testing.T, host string) {
				newImage(t, linuxAmd64, newLayer(t, Uncompressed, file("hello", "plain"))).push(t, host, "demo", "1")
			},
			checks: []check{{"hello", "plain"}},
			layers: 1,
		},
		{
			name: "multi-layer whiteouts",
			build: func(t *testing.T, host string) {
				newImage(t, linuxAmd64,
					newLayer(t, Gzip, dir("a/"), file("a/keep", "1"), file("a/gone", "1"), dir("b/"), file("b/x", "1")),
					newLayer(t, Zstd, whiteout("a/gone"), file("a/new", "2")),
					randomLayer(t, Gzip, 7, 3, 100<<10),
					newLayer(t, Uncompressed, dir("b/"), file("b/.wh..wh..opq", ""), file("b/y", "4")),
				).push(t, host, "demo", "1")
			},
			checks: []check{{"a/keep", "1"}, {"a/gone", ""}, {"a/new", "2"}, {"b/x", ""}, {"b/y", "4"}},
			layers: 4,
		},
		{
			name: "index picks platform",
			build: func(t *testing.T, host string) {
				pushIndex(t, host, "demo", "1", map[string]testImage{
					"linux/amd64":   newImage(t, linuxAmd64, newLayer(t, Gzip, file("which", "linux"))),
					"freebsd/arm64": newImage(t, freebsdArm, newLayer(t, Zstd, file("which", "freebsd-arm64"))),
				})
			},
			platform: "freebsd/arm64/v8",
			checks:   []check{{"which", "freebsd-arm64"}},
			layers:   1,
		},
		{
			name: "no layers",
			build: func(t *testing.T, host string) {
				newImage(t, linuxAmd64).push(t, host, "demo", "1")
			},
		},
	}
	for _, reg := range registries() {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					ctx := context.Background()
					tc.build(t, host)
					s, sn := newTestService(t)
					platform := tc.platform
					if platform == "" {
						platform = "linux/amd64"
					}
					rec, err := s.Pull(ctx, host+"/demo:1", PullOptions{Platform: platform})
					if err != nil {
						t.Fatal(err)
					}
					if want := host + "/demo:1"; rec.Name != want {
						t.Errorf("name %q, want %q", rec.Name, want)
					}
					if len(rec.Layers) != tc.layers || len(rec.ChainIDs) != tc.layers || len(rec.DiffIDs) != tc.layers {
						t.Fatalf("record has %d layers, %d chain ids, want %d", len(rec.Layers), len(rec.ChainIDs), tc.layers)
					}
					for _, c := range rec.ChainIDs {
						info, err := sn.Stat(ctx, c.String())
						if err != nil || info.Kind != snapshot.KindCommitted {
							t.Errorf("chain %s: %v %v", c, info.Kind, err)
						}
					}
					for _, c := range tc.checks {
						got, ok := readSnapshotFile(t, sn, rec.TopChainID(), c.path)
						if c.body == "" && ok {
							t.Errorf("%s exists, want it whited out", c.path)
						} else if c.body != "" && got != c.body {
							t.Errorf("%s = %q (exists %v), want %q", c.path, got, ok, c.body)
						}
					}
					got, err := s.Get(ctx, "demo:1")
					if err == nil {
						t.Errorf("short name found %v under the default registry", got.Name)
					}
					s.DefaultRegistry = host
					if got, err := s.Get(ctx, "demo:1"); err != nil || got.ID != rec.ID {
						t.Errorf("Get by short name: %v %v", got, err)
					}
					if got, err := s.Get(ctx, rec.ShortID()); err != nil || got.Name != rec.Name {
						t.Errorf("Get by id: %v %v", got, err)
					}
					store, _ := s.Content(ctx)
					for _, l := range rec.Layers {
						if !store.Has(ctx, l) {
							t.Errorf("layer %s not in the content store", l.Digest)
						}
					}
					if d, err := store.Resolve(ctx, rec.Name); err != nil || d.Digest != rec.Target.Digest {
						t.Errorf("index.json entry for %s: %v %v", rec.Name, d.Digest, err)
					}
					// A second pull finds everything in place.
					rec2, err := s.Pull(ctx, host+"/demo:1", PullOptions{Platform: platform})
					if err != nil || rec2.ID != rec.ID {
						t.Fatalf("second pull: %v", err)
					}
					assertNoTemp(t, s)
				})
			}
		})
	}
}

// assertNoTemp checks that no ingest or temporary file is left.
func assertNoTemp(t *testing.T, s *Service) {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(s.ContentRoot(), "ingest"))
	for _, e := range entries {
		t.Errorf("ingest file %s left", e.Name())
	}
	root, _ := os.ReadDir(s.ContentRoot())
	for _, e := range root {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left", e.Name())
		}
	}
}

// TestSkopeoReadsContentStore checks that the content store is an OCI
// layout skopeo can read by the recorded name.
func TestSkopeoReadsContentStore(t *testing.T) {
	skopeo := testenv.RequireCommand(t, "skopeo")
	ctx := context.Background()
	host := startGGCRRegistry(t)
	img := newImage(t, linuxAmd64, newLayer(t, Gzip, file("a", "1")), newLayer(t, Zstd, file("b", "2")))
	img.push(t, host, "skopeo/demo", "v1")
	s, _ := newTestService(t)
	rec, err := s.Pull(ctx, host+"/skopeo/demo:v1", PullOptions{Platform: "linux/amd64"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(skopeo, "inspect", "--raw", "oci:"+s.ContentRoot()+":"+rec.Name).CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo inspect: %v\n%s", err, out)
	}
	if string(out) != string(img.manifest) {
		t.Errorf("skopeo read manifest %s, want %s", out, img.manifest)
	}
	dst := t.TempDir()
	out, err = exec.Command(skopeo, "copy", "oci:"+s.ContentRoot()+":"+rec.Name, "dir:"+dst).CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo copy: %v\n%s", err, out)
	}
	for _, l := range img.layers {
		if _, err := os.Stat(filepath.Join(dst, l.desc.Digest.Encoded())); err != nil {
			t.Errorf("skopeo copy: layer %s missing: %v", l.desc.Digest, err)
		}
	}
}
