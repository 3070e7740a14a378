package image

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestParseReference(t *testing.T) {
	cases := []struct {
		ref, def, want string
		plain          bool
		insecure       []string
		wantPlain      bool
	}{
		{"alpine", "", "index.docker.io/library/alpine:latest", false, nil, false},
		{"demo:1", "localhost:5000", "localhost:5000/demo:1", false, nil, true},
		{"127.0.0.1:5000/a/b@sha256:" + strings.Repeat("a", 64), "", "127.0.0.1:5000/a/b@sha256:" + strings.Repeat("a", 64), false, nil, true},
		{"[::1]:5000/x:y", "", "[::1]:5000/x:y", false, nil, true},
		{"localhost/x", "", "localhost/x:latest", false, nil, true},
		{"10.1.2.3:5000/x", "", "10.1.2.3:5000/x:latest", false, nil, false},
		{"10.1.2.3:5000/x", "", "10.1.2.3:5000/x:latest", true, nil, true},
		{"10.1.2.3:5000/x", "", "10.1.2.3:5000/x:latest", false, []string{"10.0.0.0/8"}, true},
		{"reg.example:5000/x", "", "reg.example:5000/x:latest", false, []string{"reg.example:5000"}, true},
		{"reg.example:5000/x", "", "reg.example:5000/x:latest", false, []string{"reg.example:5001"}, false},
		{"quay.io/a/b:c", "localhost:5000", "quay.io/a/b:c", false, nil, false},
	}
	for _, tc := range cases {
		r, plain, err := parseRef(tc.ref, tc.def, tc.plain, tc.insecure)
		if err != nil {
			t.Errorf("%s: %v", tc.ref, err)
			continue
		}
		if r.Name() != tc.want || plain != tc.wantPlain {
			t.Errorf("%s: %s plain=%v, want %s plain=%v", tc.ref, r.Name(), plain, tc.want, tc.wantPlain)
		}
	}
	for _, bad := range []string{"", "UPPER/case", "a//b", "x:y:z", "host/repo@sha256:short", "-lead"} {
		if _, err := ParseReference(bad, ""); err == nil {
			t.Errorf("ParseReference(%q) accepted", bad)
		}
	}
}

func TestSchemeGuard(t *testing.T) {
	called := 0
	g := schemeGuard{
		inner: roundTripFunc(func(*http.Request) (*http.Response, error) {
			called++
			return &http.Response{StatusCode: 200, Body: io.NopCloser(nil)}, nil
		}),
		allowPlain: func(h string) bool { return plainHTTPAllowed(h, nil) },
	}
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"http://10.0.0.1:5000/v2/", false},
		{"http://192.168.1.1/v2/", false},
		{"https://10.0.0.1:5000/v2/", true},
		{"http://127.0.0.1:5000/v2/", true},
		{"http://localhost:5000/v2/", true},
	} {
		req, _ := http.NewRequest(http.MethodGet, tc.url, nil)
		_, err := g.RoundTrip(req)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.url, err)
		}
	}
	if called != 3 {
		t.Errorf("inner called %d times, want 3", called)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestPlatforms(t *testing.T) {
	for in, want := range map[string]string{
		"linux/amd64":        "linux/amd64",
		"Linux/x86_64":       "linux/amd64",
		"freebsd/arm64/v8":   "freebsd/arm64",
		"freebsd/aarch64":    "freebsd/arm64",
		"linux/arm/v7":       "linux/arm/v7",
		"freebsd/amd64":      "freebsd/amd64",
		"linux/arm64/v8.2":   "linux/arm64/v8.2",
		"linux/armhf":        "linux/arm/v7",
		"  linux/riscv64   ": "linux/riscv64",
	} {
		p, err := ParsePlatform(in)
		if err != nil || FormatPlatform(p) != want {
			t.Errorf("ParsePlatform(%q) = %s %v, want %s", in, FormatPlatform(p), err, want)
		}
	}
	for _, bad := range []string{"linux", "linux/", "/amd64", "a/b/c/d", "linux/arm/"} {
		if _, err := ParsePlatform(bad); err == nil {
			t.Errorf("ParsePlatform(%q) accepted", bad)
		}
	}
	idx := func(plats ...string) ocispec.Index {
		var i ocispec.Index
		for n, s := range plats {
			p, _ := ParsePlatform(s)
			i.Manifests = append(i.Manifests, ocispec.Descriptor{Digest: digest.FromString(s), Size: int64(n), Platform: &p})
		}
		// An attestation manifest, to be skipped.
		i.Manifests = append(i.Manifests, ocispec.Descriptor{Digest: digest.FromString("att"), Platform: &ocispec.Platform{OS: "unknown", Architecture: "unknown"}})
		return i
	}
	cases := []struct {
		want  string
		index ocispec.Index
		pick  string // "" = no match
	}{
		{"freebsd/amd64", idx("linux/amd64", "freebsd/amd64", "freebsd/arm64"), "freebsd/amd64"},
		{"freebsd/arm64", idx("linux/arm64", "freebsd/arm64/v8", "freebsd/amd64"), "freebsd/arm64/v8"},
		{"freebsd/arm64/v8", idx("freebsd/arm64"), "freebsd/arm64"},
		{"linux/arm/v7", idx("linux/arm/v6", "linux/arm/v7", "linux/arm/v5"), "linux/arm/v7"},
		{"linux/arm/v7", idx("linux/arm/v5", "linux/arm/v6"), "linux/arm/v6"},
		{"linux/arm/v6", idx("linux/arm/v7"), ""},
		{"linux/amd64", idx("linux/amd64/v3", "linux/amd64"), "linux/amd64"},
		{"freebsd/amd64", idx("linux/amd64"), ""},
	}
	for _, tc := range cases {
		want, _ := ParsePlatform(tc.want)
		d, err := selectManifest(tc.index, want)
		if tc.pick == "" {
			if err == nil {
				t.Errorf("%s: picked %v", tc.want, d.Platform)
			}
			continue
		}
		if err != nil || d.Digest != digest.FromString(tc.pick) {
			t.Errorf("%s: picked %v %v, want %s", tc.want, d.Platform, err, tc.pick)
		}
	}
}

func TestLayerMediaTypes(t *testing.T) {
	for mt, want := range map[string]Compression{
		ocispec.MediaTypeImageLayer:                    Uncompressed,
		ocispec.MediaTypeImageLayerGzip:                Gzip,
		ocispec.MediaTypeImageLayerZstd:                Zstd,
		MediaTypeDockerLayerGzip:                       Gzip,
		ocispec.MediaTypeImageLayerZstd + "+encrypted": Zstd,
	} {
		c, _, err := LayerMediaType(mt)
		if err != nil || c != want {
			t.Errorf("%s: %s %v", mt, c, err)
		}
	}
	if _, _, err := LayerMediaType("application/vnd.oci.image.layer.v1.tar+lz4"); !errors.Is(err, ErrUnknownMediaType) {
		t.Errorf("lz4: %v", err)
	}
	// The magic bytes decide: an uncompressed tar labelled gzip reads.
	raw := makeTar(t, []tentry{file("a", "b")})
	for _, c := range []Compression{Uncompressed, Gzip, Zstd} {
		r, found, err := Decompress(bytes.NewReader(compressBytes(t, raw, c)))
		if err != nil || found != c {
			t.Fatalf("%s: found %s %v", c, found, err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, raw) {
			t.Errorf("%s: round trip failed: %v", c, err)
		}
	}
}

func TestChainIDs(t *testing.T) {
	// Values from the OCI image spec's example.
	d := []digest.Digest{
		"sha256:a8b4f1fbeb7c8d8a0d9ac0a3e8a03f1a9b0e4d9d9c0a3b1c5f6e7d8c9b0a1f2e",
	}
	if got := ChainIDs(d); got[0] != d[0] {
		t.Errorf("chain of one layer = %s", got[0])
	}
	two := ChainIDs([]digest.Digest{d[0], d[0]})
	if two[1] != digest.FromString(d[0].String()+" "+d[0].String()) {
		t.Errorf("chain of two = %s", two[1])
	}
}

func TestProgressOnlyOnTerminal(t *testing.T) {
	f, _ := os.Create(filepath.Join(t.TempDir(), "log"))
	defer f.Close()
	for _, w := range []io.Writer{nil, &bytes.Buffer{}, f} {
		if _, ok := newProgress(t.Context(), w).(noProgress); !ok {
			t.Errorf("progress bars on %T", w)
		}
	}
}
