package image

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// evilRegistry serves whatever it is told to, right or wrong.
type evilRegistry struct {
	mu        sync.Mutex
	manifests map[string]evilBlob // by tag or digest
	blobs     map[string]evilBlob // by digest
	requests  []string            // "METHOD path range"
}

type evilBlob struct {
	status      int
	contentType string
	body        []byte
	chunked     bool // no Content-Length
}

func newEvilRegistry(t *testing.T) (*evilRegistry, string) {
	e := &evilRegistry{manifests: map[string]evilBlob{}, blobs: map[string]evilBlob{}}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return e, strings.TrimPrefix(srv.URL, "http://")
}

// serveImage makes the registry serve img as repo:tag (repo is ignored).
func (e *evilRegistry) serveImage(tag string, img testImage) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := evilBlob{contentType: img.manifestDesc.MediaType, body: img.manifest}
	e.manifests[tag] = m
	e.manifests[img.manifestDesc.Digest.String()] = m
	e.blobs[img.configDesc.Digest.String()] = evilBlob{body: img.config}
	for _, l := range img.layers {
		e.blobs[l.desc.Digest.String()] = evilBlob{body: l.blob}
	}
}

func (e *evilRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.requests = append(e.requests, r.Method+" "+r.URL.Path+" "+r.Header.Get("Range"))
	e.mu.Unlock()
	if r.URL.Path == "/v2/" {
		w.WriteHeader(http.StatusOK)
		return
	}
	i := strings.LastIndex(r.URL.Path, "/")
	kind := r.URL.Path[strings.LastIndex(r.URL.Path[:i], "/")+1 : i]
	ref := r.URL.Path[i+1:]
	e.mu.Lock()
	var b evilBlob
	var ok bool
	switch kind {
	case "manifests":
		b, ok = e.manifests[ref]
	case "blobs":
		b, ok = e.blobs[ref]
	}
	e.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"errors":[{"code":"BLOB_UNKNOWN","message":"not here"}]}`))
		return
	}
	if b.contentType != "" {
		w.Header().Set("Content-Type", b.contentType)
	}
	status := b.status
	if status == 0 {
		status = http.StatusOK
	}
	if !b.chunked {
		w.Header().Set("Content-Length", strconv.Itoa(len(b.body)))
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(b.body)
	}
}

func TestPullBadInput(t *testing.T) {
	good := func(t *testing.T) testLayer { return newLayer(t, Gzip, file("ok", "fine")) }
	// withLayerDesc rewrites the manifest so that layer i has desc.
	withLayerDesc := func(t *testing.T, img testImage, i int, desc ocispec.Descriptor) testImage {
		img.layers = append([]testLayer(nil), img.layers...)
		img.layers[i].desc = desc
		return assemble(t, img.config, img.layers)
	}
	cases := []struct {
		name string
		// setup serves the image as demo:1 and returns the digest the
		// error must name ("" for none) and the reason it must give.
		setup  func(t *testing.T, e *evilRegistry) (digest.Digest, string)
		ref    string
		commit int // committed snapshots allowed to stay (none: cleanup removes them)
	}{
		{
			name: "digest mismatch",
			setup: func(t *testing.T, e *evilRegistry) (digest.Digest, string) {
				l := newLayer(t, Gzip, file("a", "the real one"))
				img := newImage(t, linuxAmd64, l)
				e.serveImage("1", img)
				bad := append([]byte(nil), l.blob...)
				bad[len(bad)-5] ^= 0xff
				e.blobs[l.desc.Digest.String()] = evilBlob{body: bad}
				return l.desc.Digest, "digest mismatch: got sha256:"
			},
		},
		{
			name: "digest mismatch in second layer",
			setup: func(t *testing.T, e *evilRegistry) (digest.Digest, string) {
				l := newLayer(t, Zstd, file("b", "second"))
				img := newImage(t, linuxAmd64, good(t), l)
				e.serveImage("1", img)
				bad := append([]byte(nil), l.blob...)
				bad[len(bad)/2] ^= 0x01
				e.blobs[l.desc.Digest.String()] = evilBlob{body: bad}
				return l.desc.Digest, "digest mismatch"
			},
		},
		{
			name: "truncated gzip",
			setup: func(t *testing.T, e *evilRegistry) (digest.Digest, string) {
				l := randomLayer(t, Gzip, 11, 2, 64<<10)
				l.blob = l.blob[:len(l.blob)/2]
				l.desc.Digest, l.desc.Size = digest.FromBytes(l.blob), int64(len(l.blob))
				e.serveImage("1", newImage(t, linuxAmd64, l))
				return l.desc.Digest, "unexpected EOF"
			},
		},
		{
			name: "truncated zstd",
			setup: func(t *testing.T, e *evilRegistry) (digest.Digest, string) {
				l := randomLayer(t, Zstd, 12, 2, 64<<10)
				l.blob = l.blob[:len(l.blob)/2]
				l.desc.Digest, l.desc.Size = digest.FromBytes(l.blob), int64(len(l.blob))
				e.serveImage("1", newImage(t, linuxAmd64, l))
				return l.desc.Digest, "unexpected EOF"
			},
		},
		{
			name: "manifest says fewer bytes",
			setup: func(t *testing.T, e *evilRegistry) (digest.Digest, string) {
				l := newLayer(t, Gzip, file("a", "size lie"))
				d := l.desc
				d.Size -= 7
				e.serveImage("1", withLayerDesc(t, newImage(t, linuxAmd64, l), 0, d))
				return d.Digest, "size mismatch"
			},
		},
		{
			name: "manifest says more bytes",
			setup: func(t *testing.T, e *evilRegistry) (digest.Digest, string) {
				l := newLayer(t, Gzip, file("a", "size lie"))
				d := l.desc
				d.Size += 7
				e.serveImage("1", withLayerDesc(t, newImage(t, linuxAmd64, l), 0, d))
				return d.Digest, "size mismatch"
			},
		},
		{
			name: "chunked answer longer than the manifest says",
			setup: func(t *testing.T, e *evilRegistry) (digest.Digest, string) {
				l := newLayer(t, Gzip, file("a", "size lie"))
				d := l.desc
				d.Size -= 7
				e.serveImage("1", withLayerDesc(t, newImage(t, linuxAmd64, l), 0, d))
				e.blobs[d.Digest.String()] = evilBlob{body: l.blob, chunked: true}
				return d.Digest, "size mismatch"
			},
		},
		{
			name: "unknown media type",
			setup: func(t *testing.T, e *evilRegistry) (digest.Digest, string) {
				l := newLayer(t, Gzip, file("a", "1"))
				d := l.desc
				d.MediaType = "application/x-not-a-layer"
				e.serveImage("1", withLayerDesc(t, newImage(t, linuxAmd64, l), 0, d))
				return d.Digest, "unknown media type"
			},
		},
		{
			name: "encrypted without keys",
			setup: func(t *testing.T, e *evilRegistry) (digest.Digest, string) {
				l := newLayer(t, Gzip, file("a", "1"))
				d := l.desc
				d.MediaType += EncryptedSuffix
				e.serveImage("1", withLayerDesc(t, newImage(t, linuxAmd64, l), 0, d))
				return d.Digest, "is encrypted (application/vnd.oci.image.layer.v1.tar+gzip+encrypted); no keys given"
			},
		},
		{
			name: "diff_id mismatch",
			setup: func(t *testing.T, e *evilRegistry) (digest.Digest, string) {
				l := newLayer(t, Gzip, file("a", "1"))
				l2 := l
				l2.diffID = digest.FromString("something else")
				e.serveImage("1", newImage(t, linuxAmd64, l2))
				return l.desc.Digest, "diff_id mismatch"
			},
		},
		{
			name: "layer missing",
			setup: func(t *testing.T, e *evilRegistry) (digest.Digest, string) {
				l := newLayer(t, Gzip, file("a", "1"))
				e.serveImage("1", newImage(t, linuxAmd64, good(t), l))
				delete(e.blobs, l.desc.Digest.String())
				return l.desc.Digest, "not found in the registry"
			},
		},
		{
			name: "not a tar",
			setup: func(t *testing.T, e *evilRegistry) (digest.Digest, string) {
				raw := []byte(strings.Repeat("this is not a tar archive ", 100))
				blob := compressBytes(t, raw, Gzip)
				l := testLayer{blob: blob, diffID: digest.FromBytes(raw),
					desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromBytes(blob), Size: int64(len(blob))}}
				e.serveImage("1", newImage(t, linuxAmd64, l))
				return l.desc.Digest, "tar"
			},
		},
		{
			name: "registry answers garbage",
			setup: func(t *testing.T, e *evilRegistry) (digest.Digest, string) {
				e.manifests["1"] = evilBlob{contentType: "text/html", body: []byte("<html>hello, I am a captive portal</html>")}
				return "", "not a manifest"
			},
		},
		{
			name: "config is garbage",
			setup: func(t *testing.T, e *evilRegistry) (digest.Digest, string) {
				img := assemble(t, []byte("{{{{not json"), []testLayer{good(t)})
				e.serveImage("1", img)
				return img.configDesc.Digest, "config " + img.configDesc.Digest.String()
			},
		},
		{
			name: "fewer diff_ids than layers",
			setup: func(t *testing.T, e *evilRegistry) (digest.Digest, string) {
				img := newImage(t, linuxAmd64, good(t))
				img = assemble(t, img.config, []testLayer{good(t), newLayer(t, Gzip, file("x", "y"))})
				e.serveImage("1", img)
				return img.configDesc.Digest, "1 diff_ids for 2 layers"
			},
		},
		{
			name: "schema 1",
			setup: func(t *testing.T, e *evilRegistry) (digest.Digest, string) {
				e.manifests["1"] = evilBlob{contentType: "application/vnd.docker.distribution.manifest.v1+prettyjws", body: []byte(`{"schemaVersion":1,"name":"demo","tag":"1","fsLayers":[]}`)}
				return "", "schema 1"
			},
		},
		{
			name: "no such tag",
			setup: func(t *testing.T, e *evilRegistry) (digest.Digest, string) {
				return "", "manifest 1: not found in the registry"
			},
		},
		{
			name: "unparseable reference",
			ref:  "Invalid//Ref::x",
			setup: func(t *testing.T, e *evilRegistry) (digest.Digest, string) {
				return "", "invalid reference"
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, host := newEvilRegistry(t)
			d, reason := tc.setup(t, e)
			s, sn := newTestService(t)
			ref := host + "/demo:1"
			if tc.ref != "" {
				ref = tc.ref
			}
			_, err := s.Pull(context.Background(), ref, PullOptions{Platform: "linux/amd64"})
			if err == nil {
				t.Fatal("pull succeeded")
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.HasPrefix(msg, "pull ") {
				t.Errorf("error %q does not start with the image", msg)
			}
			if d != "" && !strings.Contains(msg, d.String()) {
				t.Errorf("error %q does not name %s", msg, d)
			}
			if !strings.Contains(msg, reason) {
				t.Errorf("error %q does not say %q", msg, reason)
			}
			if strings.Count(msg, "\n") > 0 {
				t.Errorf("error has more than one line: %q", msg)
			}
			assertNoLeftovers(t, s, sn, ref, nil, false)
			if tc.name == "encrypted without keys" && !errors.Is(err, ErrEncrypted) {
				t.Errorf("error does not wrap ErrEncrypted")
			}
		})
	}
}

// TestPullEncryptedSeam checks that a DecryptFunc is called for encrypted
// layers and that its output is unpacked.
func TestPullEncryptedSeam(t *testing.T) {
	e, host := newEvilRegistry(t)
	l := newLayer(t, Gzip, file("secret", "plain text"))
	// "Encrypt" by reversing the bytes.
	enc := make([]byte, len(l.blob))
	for i, b := range l.blob {
		enc[len(enc)-1-i] = b
	}
	el := l
	el.blob = enc
	el.desc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip + EncryptedSuffix, Digest: digest.FromBytes(enc), Size: int64(len(enc)),
		Annotations: map[string]string{"org.opencontainers.image.enc.keys.jwe": "xx", "org.opencontainers.image.enc.keys.pgp": "yy"}}
	e.serveImage("1", newImage(t, linuxAmd64, el))
	s, sn := newTestService(t)
	called := 0
	rec, err := s.Pull(context.Background(), host+"/demo:1", PullOptions{Platform: "linux/amd64",
		Decrypt: func(ctx context.Context, d ocispec.Descriptor, r io.Reader) (io.Reader, error) {
			called++
			data, err := io.ReadAll(r)
			if err != nil {
				return nil, err
			}
			for i, j := 0, len(data)-1; i < j; i, j = i+1, j-1 {
				data[i], data[j] = data[j], data[i]
			}
			return bytes.NewReader(data), nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if called != 1 || !rec.Encrypted || strings.Join(rec.EncryptionSchemes, ",") != "jwe,pgp" {
		t.Errorf("called %d, encrypted %v %v", called, rec.Encrypted, rec.EncryptionSchemes)
	}
	if got, _ := readSnapshotFile(t, sn, rec.TopChainID(), "secret"); got != "plain text" {
		t.Errorf("secret = %q", got)
	}
}
