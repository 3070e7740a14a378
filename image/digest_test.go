package image

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// twinImages returns two different single-layer images whose manifests,
// configs and layers have the same sizes: a registry that serves one for
// the other passes every size check, only a digest check can tell.
func twinImages(t *testing.T) (a, b testImage) {
	t.Helper()
	a = newImage(t, linuxAmd64, newLayer(t, Uncompressed, file("who", "image A")))
	b = newImage(t, linuxAmd64, newLayer(t, Uncompressed, file("who", "image B")))
	if len(a.manifest) != len(b.manifest) || len(a.config) != len(b.config) || a.manifestDesc.Digest == b.manifestDesc.Digest {
		t.Fatalf("twin images differ in size (%d, %d) or are the same", len(a.manifest), len(b.manifest))
	}
	return a, b
}

// oneIndex returns an OCI index with one linux/amd64 entry, desc.
func oneIndex(t *testing.T, desc ocispec.Descriptor) ([]byte, digest.Digest) {
	t.Helper()
	desc.Platform = &linuxAmd64
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{desc}}
	idx.SchemaVersion = 2
	data, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	return data, digest.FromBytes(data)
}

// TestPullDigestLies serves documents whose bytes are not what their
// digest says: a manifest asked for by digest, a manifest an index names,
// an index asked for by digest, a config blob. Each pull fails naming the
// digest it was promised, and stores nothing: no record, no snapshot, no
// blob, no ingest file, no entry in the layout's index.
func TestPullDigestLies(t *testing.T) {
	cases := []struct {
		name string
		// setup serves the lie and returns the reference to pull (after
		// host/), the digest the error must name and the reason.
		setup func(t *testing.T, e *evilRegistry) (ref string, d digest.Digest, reason string)
	}{
		{
			name: "manifest by digest is another image",
			setup: func(t *testing.T, e *evilRegistry) (string, digest.Digest, string) {
				a, b := twinImages(t)
				e.serveImage("b", b)
				e.manifests[a.manifestDesc.Digest.String()] = evilBlob{contentType: b.manifestDesc.MediaType, body: b.manifest}
				return "demo@" + a.manifestDesc.Digest.String(), a.manifestDesc.Digest, "digest mismatch: got " + b.manifestDesc.Digest.String()
			},
		},
		{
			name: "manifest by digest is garbage",
			setup: func(t *testing.T, e *evilRegistry) (string, digest.Digest, string) {
				a, _ := twinImages(t)
				e.serveImage("a", a)
				bad := bytes.Replace(a.manifest, []byte(`"schemaVersion":2`), []byte(`"schemaVersion":3`), 1)
				e.manifests[a.manifestDesc.Digest.String()] = evilBlob{contentType: a.manifestDesc.MediaType, body: bad}
				return "demo@" + a.manifestDesc.Digest.String(), a.manifestDesc.Digest, "digest mismatch"
			},
		},
		{
			name: "index by digest is another index",
			setup: func(t *testing.T, e *evilRegistry) (string, digest.Digest, string) {
				a, b := twinImages(t)
				e.serveImage("a", a)
				e.serveImage("b", b)
				_, da := oneIndex(t, a.manifestDesc)
				ib, _ := oneIndex(t, b.manifestDesc)
				e.manifests[da.String()] = evilBlob{contentType: ocispec.MediaTypeImageIndex, body: ib}
				return "demo@" + da.String(), da, "digest mismatch"
			},
		},
		{
			name: "tag's index names a manifest the registry swaps",
			setup: func(t *testing.T, e *evilRegistry) (string, digest.Digest, string) {
				a, b := twinImages(t)
				e.serveImage("b", b)
				e.blobs[a.configDesc.Digest.String()] = evilBlob{body: a.config}
				ia, _ := oneIndex(t, a.manifestDesc)
				e.manifests["1"] = evilBlob{contentType: ocispec.MediaTypeImageIndex, body: ia}
				e.manifests[a.manifestDesc.Digest.String()] = evilBlob{contentType: b.manifestDesc.MediaType, body: b.manifest}
				return "demo:1", a.manifestDesc.Digest, "digest mismatch"
			},
		},
		{
			name: "tag's index lies about a manifest's digest",
			setup: func(t *testing.T, e *evilRegistry) (string, digest.Digest, string) {
				a, _ := twinImages(t)
				e.serveImage("a", a)
				lie := a.manifestDesc
				lie.Digest = digest.FromString("not the manifest")
				e.manifests[lie.Digest.String()] = evilBlob{contentType: a.manifestDesc.MediaType, body: a.manifest}
				ia, _ := oneIndex(t, lie)
				e.manifests["1"] = evilBlob{contentType: ocispec.MediaTypeImageIndex, body: ia}
				return "demo:1", lie.Digest, "digest mismatch: got " + a.manifestDesc.Digest.String()
			},
		},
		{
			name: "tag's index lies about a manifest's size",
			setup: func(t *testing.T, e *evilRegistry) (string, digest.Digest, string) {
				a, _ := twinImages(t)
				e.serveImage("a", a)
				lie := a.manifestDesc
				lie.Size += 3
				ia, _ := oneIndex(t, lie)
				e.manifests["1"] = evilBlob{contentType: ocispec.MediaTypeImageIndex, body: ia}
				return "demo:1", lie.Digest, "size mismatch"
			},
		},
		{
			name: "config blob is another image's",
			setup: func(t *testing.T, e *evilRegistry) (string, digest.Digest, string) {
				a, b := twinImages(t)
				e.serveImage("1", a)
				e.blobs[a.configDesc.Digest.String()] = evilBlob{body: b.config}
				return "demo:1", a.configDesc.Digest, "digest mismatch: got " + b.configDesc.Digest.String()
			},
		},
		{
			name: "config blob is another image's when pulled by digest",
			setup: func(t *testing.T, e *evilRegistry) (string, digest.Digest, string) {
				a, b := twinImages(t)
				e.serveImage("1", a)
				e.blobs[a.configDesc.Digest.String()] = evilBlob{body: b.config}
				return "demo@" + a.manifestDesc.Digest.String(), a.configDesc.Digest, "digest mismatch"
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, host := newEvilRegistry(t)
			ref, d, reason := tc.setup(t, e)
			ref = host + "/" + ref
			s, sn := newTestService(t)
			rec, err := s.Pull(context.Background(), ref, PullOptions{Platform: "linux/amd64"})
			if err == nil {
				t.Fatalf("pull succeeded: got image %s (manifest %s)", rec.ID, rec.Target.Digest)
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.Contains(msg, d.String()) {
				t.Errorf("error %q does not name %s", msg, d)
			}
			if !strings.Contains(msg, reason) {
				t.Errorf("error %q does not say %q", msg, reason)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error has more than one line: %q", msg)
			}
			assertNoLeftovers(t, s, sn, ref, nil, false)
			assertNoBlobs(t, s)
		})
	}
}

// assertNoBlobs checks that the content store holds no blob and its
// layout's index names nothing.
func assertNoBlobs(t *testing.T, s *Service) {
	t.Helper()
	blobs, err := os.ReadDir(filepath.Join(s.ContentRoot(), ocispec.ImageBlobsDir, "sha256"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, b := range blobs {
		t.Errorf("blob sha256:%s left in the content store", b.Name())
	}
	store, err := s.Content(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	idx, err := store.Index(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 0 {
		t.Errorf("the layout's index names %v", idx.Manifests)
	}
}
