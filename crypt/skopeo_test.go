package crypt

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// writeLayout writes a one-layer image as an OCI layout at dir, tagged
// "v1". diffID is the digest of the layer's tar.
func writeLayout(t testing.TB, dir string, layer ocispec.Descriptor, blob []byte, diffID digest.Digest) {
	t.Helper()
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	put := func(b []byte) digest.Digest {
		d := digest.FromBytes(b)
		if err := os.WriteFile(filepath.Join(blobs, d.Encoded()), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	put(blob)
	cfg, _ := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
	})
	cfgDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: put(cfg), Size: int64(len(cfg))}
	man, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: cfgDesc, Layers: []ocispec.Descriptor{layer}})
	manDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: put(man), Size: int64(len(man)),
		Annotations: map[string]string{ocispec.AnnotationRefName: "v1"}}
	idx, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{manDesc}})
	writeJSON(t, filepath.Join(dir, "oci-layout"), ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err := os.WriteFile(filepath.Join(dir, "index.json"), idx, 0o644); err != nil {
		t.Fatal(err)
	}
}

// readLayout returns the layer descriptor and blob of a one-layer image
// in an OCI layout, and the config's diff_id.
func readLayout(t testing.TB, dir string) (ocispec.Descriptor, []byte, digest.Digest) {
	t.Helper()
	blob := func(d digest.Digest) []byte {
		b, err := os.ReadFile(filepath.Join(dir, "blobs", d.Algorithm().String(), d.Encoded()))
		if err != nil {
			t.Fatal(err)
		}
		if digest.FromBytes(b) != d {
			t.Fatalf("blob %s does not match its digest", d)
		}
		return b
	}
	var idx ocispec.Index
	if err := json.Unmarshal(read(t, filepath.Join(dir, "index.json")), &idx); err != nil || len(idx.Manifests) != 1 {
		t.Fatalf("index: %v", err)
	}
	var man ocispec.Manifest
	if err := json.Unmarshal(blob(idx.Manifests[0].Digest), &man); err != nil || len(man.Layers) != 1 {
		t.Fatalf("manifest: %v", err)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(blob(man.Config.Digest), &cfg); err != nil || len(cfg.RootFS.DiffIDs) != 1 {
		t.Fatalf("config: %v", err)
	}
	return man.Layers[0], blob(man.Layers[0].Digest), cfg.RootFS.DiffIDs[0]
}

// skopeo runs skopeo with a permissive policy.
func skopeo(t testing.TB, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command("skopeo", append([]string{"--insecure-policy"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestSkopeoEncryptedLayers encrypts images with `skopeo copy
// --encryption-key` (gzip kept, or recompressed to zstd) and decrypts their
// layers here.
func TestSkopeoEncryptedLayers(t *testing.T) {
	cases := []struct {
		name      string
		recipient string
		keys      []string
		decRcpt   []string
		zstd      bool
		scheme    string
	}{
		{"jwe rsa gzip", "jwe:" + fx.rsaPub, []string{fx.rsaPKCS8}, nil, false, "jwe"},
		{"jwe rsa zstd", "jwe:" + fx.rsaPub, []string{fx.rsaEncPKCS8 + ":" + testPassword}, nil, true, "jwe"},
		{"jwe ec zstd", "jwe:" + fx.ecPub, []string{fx.ecSEC1}, nil, true, "jwe"},
		{"jwe ec gzip", "jwe:" + fx.ecPub, []string{fx.ecPKCS8}, nil, false, "jwe"},
		{"pkcs7 gzip", "pkcs7:" + fx.cert, []string{fx.rsaPKCS8}, []string{"pkcs7:" + fx.cert}, false, "pkcs7"},
		{"pkcs7 zstd", "pkcs7:" + fx.cert, []string{fx.rsaPKCS1}, []string{"pkcs7:" + fx.certDER}, true, "pkcs7"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			l := newLayer(t, "gzip", 400_000)
			src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst")
			writeLayout(t, src, l.desc, l.blob, digest.FromBytes(l.tar))
			args := []string{"copy", "--encryption-key", tc.recipient}
			if tc.zstd {
				args = append(args, "--dest-compress-format", "zstd")
			}
			skopeo(t, nil, append(args, "oci:"+src+":v1", "oci:"+dst+":v1")...)

			desc, ct, diffID := readLayout(t, dst)
			want := ocispec.MediaTypeImageLayerGzip + "+encrypted"
			if tc.zstd {
				want = ocispec.MediaTypeImageLayerZstd + "+encrypted"
			}
			if desc.MediaType != want {
				t.Fatalf("skopeo wrote media type %s, want %s", desc.MediaType, want)
			}
			if info := LayerInfo(desc); !info.Encrypted || strings.Join(info.Schemes, ",") != tc.scheme {
				t.Fatalf("LayerInfo %+v", info)
			}
			d := mustKeys(t, tc.keys, tc.decRcpt, "", false)
			var warned []string
			d.Warn = func(m string) { warned = append(warned, m) }
			plain, err := decryptAll(d, desc, ct)
			if err != nil {
				t.Fatalf("decrypt: %v", err)
			}
			if !tc.zstd && !bytes.Equal(plain, l.blob) {
				t.Error("gzip layer differs from the one skopeo encrypted")
			}
			tarb := decompress(t, plain)
			if tc.zstd && !bytes.HasPrefix(plain, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
				t.Error("plaintext is not zstd")
			}
			if !bytes.Equal(tarb, l.tar) || digest.FromBytes(tarb) != diffID {
				t.Error("tar differs")
			}
			// skopeo names the gzip layer it recompressed in the
			// encrypted options: Decrypt reports it and goes on.
			if tc.zstd != (len(warned) == 1) {
				t.Errorf("warnings: %q", warned)
			}
			if tc.zstd && len(warned) == 1 && !strings.Contains(warned[0], "its encryption options name "+string(l.desc.Digest)) {
				t.Errorf("warning: %s", warned[0])
			}

			// A wrong key is refused with the one-line message.
			_, err = decryptAll(mustKeys(t, []string{fx.otherRSA}, []string{"pkcs7:" + fx.otherCert}, "", false), desc, ct)
			if want := "layer " + string(desc.Digest) + ": encrypted for " + tc.scheme + "; the only key (from --key) does not open it"; errText(err) != want {
				t.Errorf("wrong key:\n got %s\nwant %s", errText(err), want)
			}
		})
	}
}

// TestSkopeoDecryptsOurLayers encrypts layers with EncryptLayer and has
// `skopeo copy --decryption-key` decrypt them.
func TestSkopeoDecryptsOurLayers(t *testing.T) {
	cases := []struct {
		name       string
		comp       string
		recipients []string
		skopeoKeys []string
		wantMT     string
	}{
		{"jwe rsa gzip", "gzip", []string{"jwe:" + fx.rsaPub}, []string{fx.rsaPKCS8}, ocispec.MediaTypeImageLayerGzip + "+encrypted"},
		{"jwe ec zstd", "zstd", []string{"jwe:" + fx.ecPub}, []string{fx.ecPKCS8}, ocispec.MediaTypeImageLayerZstd + "+encrypted"},
		{"pkcs7 zstd", "zstd", []string{"pkcs7:" + fx.cert}, []string{fx.rsaPKCS8, fx.cert}, ocispec.MediaTypeImageLayerZstd + "+encrypted"},
		{"jwe jwk + pkcs7 gzip, opened by jwe", "gzip", []string{"jwe:" + fx.otherRSAPub, "pkcs7:" + fx.cert, "jwe:" + fx.ecPub}, []string{fx.otherRSA}, ocispec.MediaTypeImageLayerGzip + "+encrypted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			l := newLayer(t, tc.comp, 300_000)
			ct, desc := encryptHere(t, l, tc.recipients...)
			if desc.MediaType != tc.wantMT {
				t.Fatalf("media type %s", desc.MediaType)
			}
			enc, dec := filepath.Join(tmp, "enc"), filepath.Join(tmp, "dec")
			writeLayout(t, enc, desc, ct, digest.FromBytes(l.tar))
			args := []string{"copy"}
			for _, k := range tc.skopeoKeys {
				args = append(args, "--decryption-key", k)
			}
			skopeo(t, nil, append(args, "oci:"+enc+":v1", "oci:"+dec+":v1")...)
			got, blob, _ := readLayout(t, dec)
			if IsEncryptedMediaType(got.MediaType) || len(LayerInfo(got).Schemes) != 0 {
				t.Fatalf("still encrypted: %+v", got)
			}
			if !bytes.Equal(blob, l.blob) {
				t.Error("skopeo's plaintext differs from the layer we encrypted")
			}
			if !bytes.Equal(decompress(t, blob), l.tar) {
				t.Error("tar differs")
			}
		})
	}
}

// TestSkopeoNoKey checks that skopeo cannot decrypt our layer with a wrong
// key either (the image is really encrypted).
func TestSkopeoNoKey(t *testing.T) {
	tmp := t.TempDir()
	l := newLayer(t, "gzip", 1000)
	ct, desc := encryptHere(t, l, "jwe:"+fx.rsaPub)
	if bytes.Contains(ct, []byte("the plaintext nobody may see")) || bytes.Contains(ct, l.blob[10:60]) {
		t.Fatal("ciphertext holds plaintext")
	}
	enc := filepath.Join(tmp, "enc")
	writeLayout(t, enc, desc, ct, digest.FromBytes(l.tar))
	cmd := exec.Command("skopeo", "--insecure-policy", "copy", "--decryption-key", fx.otherRSA, "oci:"+enc+":v1", "oci:"+filepath.Join(tmp, "dec")+":v1")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("skopeo decrypted with the wrong key:\n%s", out)
	}
	_ = context.Background
}
