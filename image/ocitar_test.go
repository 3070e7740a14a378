package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stockade/stockade/internal/testenv"
)

func needTool(t *testing.T, name string) string {
	t.Helper()
	return testenv.RequireCommand(t, name)
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestExportImportRoundTrip(t *testing.T) {
	skopeo := needTool(t, "skopeo")
	ctx := context.Background()
	host := startGGCRRegistry(t)
	newImage(t, linuxAmd64,
		newLayer(t, Gzip, dir("etc/"), file("etc/a", "1")),
		newLayer(t, Zstd, whiteout("etc/a"), file("etc/b", "2")),
	).push(t, host, "rt/img", "1")
	s, _ := newTestService(t)
	rec, err := s.Pull(ctx, host+"/rt/img:1", PullOptions{Platform: "linux/amd64"})
	if err != nil {
		t.Fatal(err)
	}
	tarFile := filepath.Join(t.TempDir(), "img.tar")
	if err := s.Export(ctx, rec.Name, tarFile); err != nil {
		t.Fatal(err)
	}
	var info struct {
		Digest string
		Layers []string
	}
	if err := json.Unmarshal([]byte(run(t, skopeo, "inspect", "oci-archive:"+tarFile)), &info); err != nil {
		t.Fatal(err)
	}
	if info.Digest != rec.Target.Digest.String() || len(info.Layers) != 2 {
		t.Errorf("skopeo inspect: %+v", info)
	}
	s2, sn2 := newTestService(t)
	recs, err := s2.Import(ctx, tarFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Name != rec.Name || recs[0].ID != rec.ID || recs[0].TopChainID() != rec.TopChainID() {
		t.Fatalf("imported %+v", recs)
	}
	if got, _ := readSnapshotFile(t, sn2, recs[0].TopChainID(), "etc/b"); got != "2" {
		t.Errorf("etc/b = %q", got)
	}
	if _, ok := readSnapshotFile(t, sn2, recs[0].TopChainID(), "etc/a"); ok {
		t.Error("etc/a survived its whiteout")
	}
	if err := s.Export(ctx, "no/such:image", filepath.Join(t.TempDir(), "x.tar")); err == nil {
		t.Error("export of an unknown image succeeded")
	}
}

// TestImportSkopeoArchive imports what `skopeo copy ... oci-archive:F:name`
// wrote, and pulls an image skopeo pushed with zstd layers.
func TestSkopeoMadeImages(t *testing.T) {
	skopeo := needTool(t, "skopeo")
	ctx := context.Background()
	host := startGGCRRegistry(t)
	newImage(t, linuxAmd64, randomLayer(t, Gzip, 21, 2, 32<<10), newLayer(t, Gzip, file("hello", "skopeo"))).push(t, host, "sk/img", "1")

	t.Run("oci-archive import", func(t *testing.T) {
		tarFile := filepath.Join(t.TempDir(), "sk.tar")
		run(t, skopeo, "copy", "--src-tls-verify=false", "docker://"+host+"/sk/img:1", "oci-archive:"+tarFile+":sk/named:2.0")
		s, sn := newTestService(t)
		s.DefaultRegistry = "registry.example"
		recs, err := s.Import(ctx, tarFile)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 || recs[0].Name != "registry.example/sk/named:2.0" {
			t.Fatalf("imported %+v", recs)
		}
		if got, _ := readSnapshotFile(t, sn, recs[0].TopChainID(), "hello"); got != "skopeo" {
			t.Errorf("hello = %q", got)
		}
	})
	t.Run("zstd pushed by skopeo", func(t *testing.T) {
		// Another registry, so that skopeo cannot reuse the gzip blobs.
		other := startGGCRRegistry(t)
		run(t, skopeo, "copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--dest-compress-format", "zstd",
			"docker://"+host+"/sk/img:1", "docker://"+other+"/sk/zstd:1")
		s, sn := newTestService(t)
		rec, err := s.Pull(ctx, other+"/sk/zstd:1", PullOptions{Platform: "linux/amd64"})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range rec.Layers {
			if l.MediaType != ocispec.MediaTypeImageLayerZstd {
				t.Errorf("layer %s is %s, want zstd", l.Digest, l.MediaType)
			}
		}
		if got, _ := readSnapshotFile(t, sn, rec.TopChainID(), "hello"); got != "skopeo" {
			t.Errorf("hello = %q", got)
		}
	})
}

// TestUmociImage pulls and imports an image built by umoci.
func TestUmociImage(t *testing.T) {
	umoci := needTool(t, "umoci")
	skopeo := needTool(t, "skopeo")
	ctx := context.Background()
	work := t.TempDir()
	layout := filepath.Join(work, "layout")
	bundle := filepath.Join(work, "bundle")
	run(t, umoci, "init", "--layout", layout)
	run(t, umoci, "new", "--image", layout+":latest")
	run(t, umoci, "unpack", "--image", layout+":latest", bundle)
	os.MkdirAll(filepath.Join(bundle, "rootfs", "opt"), 0o755)
	os.WriteFile(filepath.Join(bundle, "rootfs", "opt", "made-by"), []byte("umoci"), 0o644)
	run(t, umoci, "repack", "--image", layout+":latest", bundle)
	run(t, umoci, "config", "--image", layout+":latest", "--config.cmd", "/bin/true")

	host := startGGCRRegistry(t)
	run(t, skopeo, "copy", "--dest-tls-verify=false", "oci:"+layout+":latest", "docker://"+host+"/umoci/img:1")
	s, sn := newTestService(t)
	rec, err := s.Pull(ctx, host+"/umoci/img:1", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := readSnapshotFile(t, sn, rec.TopChainID(), "opt/made-by"); got != "umoci" {
		t.Errorf("opt/made-by = %q", got)
	}

	// The umoci layout as a tar: ref.name is just "latest".
	tarFile := filepath.Join(work, "umoci.tar")
	run(t, "tar", "-C", layout, "-cf", tarFile, ".")
	s2, sn2 := newTestService(t)
	s2.DefaultRegistry = "localhost:5000"
	recs, err := s2.Import(ctx, tarFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].ID != rec.ID || recs[0].Name != "localhost:5000/latest:latest" {
		t.Fatalf("imported %+v", recs)
	}
	if got, _ := readSnapshotFile(t, sn2, recs[0].TopChainID(), "opt/made-by"); got != "umoci" {
		t.Errorf("opt/made-by = %q", got)
	}
}

func TestImportBadInput(t *testing.T) {
	l := newLayer(t, Gzip, file("a", "1"))
	img := newImage(t, linuxAmd64, l)
	good := func() map[string][]byte {
		idx := ocispec.Index{Manifests: []ocispec.Descriptor{img.manifestDesc}}
		idx.SchemaVersion = 2
		ib, _ := json.Marshal(idx)
		return map[string][]byte{
			"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`),
			"index.json": ib,
			"blobs/sha256/" + img.manifestDesc.Digest.Encoded(): img.manifest,
			"blobs/sha256/" + img.configDesc.Digest.Encoded():   img.config,
			"blobs/sha256/" + l.desc.Digest.Encoded():           l.blob,
		}
	}
	cases := []struct {
		name   string
		mutate func(m map[string][]byte)
		want   string
	}{
		{"blob does not match its name", func(m map[string][]byte) {
			b := append([]byte(nil), l.blob...)
			b[len(b)-3] ^= 1
			m["blobs/sha256/"+l.desc.Digest.Encoded()] = b
		}, "digest mismatch"},
		{"layer missing", func(m map[string][]byte) { delete(m, "blobs/sha256/"+l.desc.Digest.Encoded()) }, "layer " + l.desc.Digest.String()},
		{"no index.json", func(m map[string][]byte) { delete(m, "index.json") }, "not an OCI image layout"},
		{"index.json garbage", func(m map[string][]byte) { m["index.json"] = []byte("][") }, "index.json"},
		{"escaping names are ignored", func(m map[string][]byte) {
			m["../../evil"] = []byte("x")
			delete(m, "blobs/sha256/"+img.configDesc.Digest.Encoded())
			m["../blobs/sha256/"+img.configDesc.Digest.Encoded()] = img.config
		}, "config " + img.configDesc.Digest.String()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := good()
			tc.mutate(m)
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for name, data := range m {
				tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))})
				tw.Write(data)
			}
			tw.Close()
			tarFile := filepath.Join(t.TempDir(), "bad.tar")
			os.WriteFile(tarFile, buf.Bytes(), 0o644)
			s, sn := newTestService(t)
			_, err := s.Import(context.Background(), tarFile)
			if err == nil {
				t.Fatal("import succeeded")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			assertNoLeftovers(t, s, sn, "imported:x", nil, false)
			if _, err := os.Stat(filepath.Join(filepath.Dir(tarFile), "..", "evil")); err == nil {
				t.Error("an entry escaped")
			}
		})
	}
	_ = digest.Canonical
}
