package crypt

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestEncryptLayer encrypts with EncryptLayer and decrypts with Decrypt,
// for each recipient kind and compression.
func TestEncryptLayer(t *testing.T) {
	cases := []struct {
		name       string
		comp       string
		recipients []string
		keys       []string
		decRcpt    []string
	}{
		{"jwe rsa pem, gzip", "gzip", []string{"jwe:" + fx.rsaPub}, []string{fx.rsaPKCS8}, nil},
		{"jwe rsa der, zstd", "zstd", []string{"jwe:" + fx.rsaPubDER}, []string{fx.rsaDER}, nil},
		{"jwe ec, none", "none", []string{"jwe:" + fx.ecPub}, []string{fx.ecSEC1}, nil},
		{"jwe rsa jwk", "zstd", []string{"jwe:" + fx.rsaPubJWK}, []string{fx.rsaJWK}, nil},
		{"jwe ec jwk without alg", "zstd", []string{"jwe:" + writeTemp(t, jwkPublicNoAlg(t, fx.ecJWK))}, []string{fx.ecJWK}, nil},
		{"jwe from certificate", "gzip", []string{"jwe:" + fx.cert}, []string{fx.rsaPKCS8}, nil},
		{"pkcs7", "zstd", []string{"pkcs7:" + fx.cert}, []string{fx.rsaPKCS8}, []string{"pkcs7:" + fx.cert}},
		{"three recipients, ec opens", "gzip", []string{"jwe:" + fx.rsaPub, "pkcs7:" + fx.cert, "jwe:" + fx.ecPub}, []string{fx.ecPKCS8}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newLayer(t, tc.comp, 200_000)
			ct, desc := encryptHere(t, l, tc.recipients...)
			wantMT, _ := EncryptedMediaType(l.desc.MediaType)
			if desc.MediaType != wantMT || desc.Digest != digest.FromBytes(ct) || desc.Size != int64(len(ct)) {
				t.Fatalf("descriptor %+v", desc)
			}
			if desc.Annotations["org.example.keep"] != "yes" || desc.Annotations[AnnotationPubOpts] == "" {
				t.Fatalf("annotations %v", desc.Annotations)
			}
			got, err := decryptAll(mustKeys(t, tc.keys, tc.decRcpt, "", false), desc, ct)
			if err != nil || !bytes.Equal(got, l.blob) {
				t.Fatalf("decrypt: %v", err)
			}
		})
	}
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	p := t.TempDir() + "/key"
	if err := osWriteFile(p, b); err != nil {
		t.Fatal(err)
	}
	return p
}

// jwkPublicNoAlg returns the public JWK of a private JWK file, without
// "alg".
func jwkPublicNoAlg(t *testing.T, path string) []byte {
	b := jwkPublic(t, path)
	return bytes.Replace(b, []byte(`"alg":"ECDH-ES+A256KW",`), nil, 1)
}

// TestEncryptLayerRefusals checks EncryptLayer's and ParseRecipients'
// errors.
func TestEncryptLayerRefusals(t *testing.T) {
	l := newLayer(t, "gzip", 10_000)
	rc, err := ParseRecipients([]string{"jwe:" + fx.rsaPub})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	D := string(l.desc.Digest)

	// done before the end of the stream.
	r, done, err := EncryptLayer(ctx, rc, l.desc, bytes.NewReader(l.blob))
	if err != nil {
		t.Fatal(err)
	}
	r.Read(make([]byte, 100))
	if _, err := done(); errText(err) != "encrypt layer "+D+": the ciphertext was not read to its end" {
		t.Errorf("early done: %v", err)
	}

	// A stream that is not the layer the descriptor names.
	r, done, err = EncryptLayer(ctx, rc, l.desc, bytes.NewReader(l.blob[:len(l.blob)-1]))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, r)
	short := l.blob[:len(l.blob)-1]
	want := fmt.Sprintf("encrypt layer %s: the plain layer read is %s (%d bytes), not what the descriptor says (%d bytes)", D, digest.FromBytes(short), len(short), len(l.blob))
	if _, err := done(); errText(err) != want {
		t.Errorf("wrong stream:\n got %v\nwant %s", err, want)
	}

	// A cancelled context stops the stream.
	cctx, cancel := context.WithCancel(ctx)
	r, _, err = EncryptLayer(cctx, rc, l.desc, bytes.NewReader(l.blob))
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := io.ReadAll(r); err != context.Canceled {
		t.Errorf("cancelled: %v", err)
	}

	enc := l.desc
	enc.MediaType += "+encrypted"
	cfg := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: l.desc.Digest, Size: l.desc.Size}
	nodigest := l.desc
	nodigest.Digest = ""
	for _, c := range []struct {
		rc   *Recipients
		desc ocispec.Descriptor
		want string
	}{
		{nil, l.desc, "encrypt layer " + D + ": no recipients"},
		{rc, enc, "encrypt layer " + D + `: media type "application/vnd.oci.image.layer.v1.tar+gzip+encrypted" is already encrypted`},
		{rc, cfg, "encrypt layer " + D + `: media type "application/vnd.oci.image.config.v1+json" is not a layer type that can be encrypted`},
		{rc, nodigest, "encrypt layer : bad digest: invalid checksum digest format"},
	} {
		if _, _, err := EncryptLayer(ctx, c.rc, c.desc, bytes.NewReader(l.blob)); errText(err) != c.want {
			t.Errorf("got  %v\nwant %s", err, c.want)
		}
	}

	missing := t.TempDir() + "/missing.pem"
	for _, c := range []struct{ arg, want string }{
		{"jwe:" + missing, "--encrypt jwe:" + missing + ": no such file or directory"},
		{"jwe:" + fx.rsaPKCS8, "--encrypt jwe:" + fx.rsaPKCS8 + ": is a private key; encrypt for the public key"},
		{"jwe:" + fx.rsaJWK, "--encrypt jwe:" + fx.rsaJWK + ": is a private JWK; encrypt for the public key"},
		{"jwe:" + fx.passwordFile, "--encrypt jwe:" + fx.passwordFile + ": not a public key (PEM or DER PKIX or PKCS#1, JWK, or x509 certificate)"},
		{"pkcs7:" + fx.rsaPub, "--encrypt pkcs7:" + fx.rsaPub + ": not an x509 certificate"},
		{"pkcs7:" + fx.ecCert, "--encrypt pkcs7:" + fx.ecCert + ": pkcs7 needs a certificate with an RSA key"},
		{"rsa:" + fx.rsaPub, "--encrypt rsa:" + fx.rsaPub + `: unknown scheme "rsa" (jwe, pkcs7, pgp, pkcs11, provider)`},
		{fx.rsaPub, "--encrypt " + fx.rsaPub + ": expected SCHEME:VALUE (jwe:, pkcs7:, pgp:, pkcs11:, provider:)"},
		{"pgp:" + fx.rsaPub, "--encrypt pgp:" + fx.rsaPub + ": not an OpenPGP public key (binary or armored)"},
	} {
		if _, err := ParseRecipients([]string{c.arg}); errText(err) != c.want {
			t.Errorf("%s:\n got %v\nwant %s", c.arg, err, c.want)
		}
	}
	if _, err := ParseRecipients(nil); errText(err) != "no recipients to encrypt for" {
		t.Errorf("no recipients: %v", err)
	}
}
