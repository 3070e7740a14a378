package crypt

import (
	"encoding/base64"
	"reflect"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestMediaTypes(t *testing.T) {
	pairs := []struct{ plain, enc string }{
		{"application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+encrypted"},
		{"application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar+gzip+encrypted"},
		{"application/vnd.oci.image.layer.v1.tar+zstd", "application/vnd.oci.image.layer.v1.tar+zstd+encrypted"},
		{"application/vnd.oci.image.layer.nondistributable.v1.tar", "application/vnd.oci.image.layer.nondistributable.v1.tar+encrypted"},
		{"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip+encrypted"},
		{"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd+encrypted"},
		{"application/vnd.docker.image.rootfs.diff.tar.gzip", "application/vnd.docker.image.rootfs.diff.tar.gzip+encrypted"},
		{"application/vnd.docker.image.rootfs.diff.tar.zstd", "application/vnd.docker.image.rootfs.diff.tar.zstd+encrypted"},
		{"application/vnd.docker.image.rootfs.diff.tar", "application/vnd.docker.image.rootfs.diff.tar+encrypted"},
		{"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip+encrypted"},
	}
	for _, p := range pairs {
		if got, err := EncryptedMediaType(p.plain); got != p.enc || err != nil {
			t.Errorf("EncryptedMediaType(%s) = %s, %v", p.plain, got, err)
		}
		if got, err := DecryptedMediaType(p.enc); got != p.plain || err != nil {
			t.Errorf("DecryptedMediaType(%s) = %s, %v", p.enc, got, err)
		}
		if IsEncryptedMediaType(p.plain) || !IsEncryptedMediaType(p.enc) {
			t.Errorf("IsEncryptedMediaType wrong for %s", p.plain)
		}
	}
	// containerd's name for an encrypted uncompressed Docker layer.
	if got, err := DecryptedMediaType("application/vnd.docker.image.rootfs.diff.tar.encrypted"); got != "application/vnd.docker.image.rootfs.diff.tar" || err != nil {
		t.Errorf("docker .encrypted: %s %v", got, err)
	}
	bad := []struct {
		f    func(string) (string, error)
		in   string
		want string
	}{
		{EncryptedMediaType, "application/vnd.oci.image.layer.v1.tar+gzip+encrypted", `media type "application/vnd.oci.image.layer.v1.tar+gzip+encrypted" is already encrypted`},
		{EncryptedMediaType, ocispec.MediaTypeImageConfig, `media type "application/vnd.oci.image.config.v1+json" is not a layer type that can be encrypted`},
		{DecryptedMediaType, ocispec.MediaTypeImageLayerGzip, `media type "application/vnd.oci.image.layer.v1.tar+gzip" is not encrypted`},
		{DecryptedMediaType, "application/x-foo+encrypted", `media type "application/x-foo+encrypted" is not a known encrypted layer type`},
	}
	for _, b := range bad {
		if _, err := b.f(b.in); errText(err) != b.want {
			t.Errorf("%s: %v, want %s", b.in, err, b.want)
		}
	}
}

func TestLayerInfo(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	cases := []struct {
		name string
		desc ocispec.Descriptor
		want Info
	}{
		{"plain", ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerZstd},
			Info{MediaType: ocispec.MediaTypeImageLayerZstd}},
		{"all schemes", ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerZstd + "+encrypted", Annotations: map[string]string{
			"org.opencontainers.image.enc.keys.jwe":            b64("a"),
			"org.opencontainers.image.enc.keys.pkcs7":          b64("b"),
			"org.opencontainers.image.enc.keys.pgp":            b64("c") + "," + b64("d"),
			"org.opencontainers.image.enc.keys.pkcs11":         b64("e"),
			"org.opencontainers.image.enc.keys.provider.kbs":   b64("f"),
			"org.opencontainers.image.enc.pubopts":             b64("{}"),
			"org.opencontainers.image.enc.keys.provider.empty": "",
			"org.example.other":                                "x",
		}}, Info{Encrypted: true, MediaType: ocispec.MediaTypeImageLayerZstd,
			Schemes:     []string{"jwe", "pgp", "pkcs11", "pkcs7", "provider.kbs"},
			WrappedKeys: map[string]int{"jwe": 1, "pgp": 2, "pkcs11": 1, "pkcs7": 1, "provider.kbs": 1}}},
		{"encrypted, unknown base, no keys", ocispec.Descriptor{MediaType: "application/x-foo+encrypted"},
			Info{Encrypted: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := LayerInfo(tc.desc); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	// A real layer.
	l := newLayer(t, "gzip", 100)
	_, desc := encryptHere(t, l, "jwe:"+fx.rsaPub, "pkcs7:"+fx.cert, "jwe:"+fx.ecPub)
	if got := LayerInfo(desc); !reflect.DeepEqual(got.Schemes, []string{"jwe", "pkcs7"}) || !got.Encrypted ||
		got.MediaType != ocispec.MediaTypeImageLayerGzip {
		t.Errorf("%+v", got)
	}
}
