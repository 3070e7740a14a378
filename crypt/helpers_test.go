package crypt

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containers/ocicrypt"
	encconfig "github.com/containers/ocicrypt/config"
	"github.com/go-jose/go-jose/v4"
	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fx holds key files made once for all tests, by openssl and by Go.
var fx struct {
	dir string
	// openssl
	rsaPKCS8, rsaPKCS1, rsaDER, rsaPKCS1DER, rsaPub, rsaPubDER, cert, certDER string
	ecSEC1, ecPKCS8, ecPub                                                    string
	rsaEncPKCS8, rsaEncLegacy, rsaEncDER, ecEncScrypt, passwordFile           string
	otherRSA, otherRSAPub, otherCert, ecCert                                  string
	// Go
	rsaJWK, ecJWK, rsaPubJWK string
}

const testPassword = "s3cret pass"

func TestMain(m *testing.M) {
	os.Unsetenv("OCICRYPT_KEYPROVIDER_CONFIG")
	dir, err := os.MkdirTemp("", "stockade-crypt-keys-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	err = makeFixtures(dir)
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, "fixtures:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	if providerBin != "" {
		os.RemoveAll(filepath.Dir(providerBin))
	}
	os.Exit(code)
}

func openssl(args ...string) error {
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("openssl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func makeFixtures(dir string) error {
	fx.dir = dir
	p := func(name string) string { return filepath.Join(dir, name) }
	fx.rsaPKCS8, fx.rsaPKCS1, fx.rsaDER, fx.rsaPKCS1DER = p("rsa.pem"), p("rsa-pkcs1.pem"), p("rsa.der"), p("rsa-pkcs1.der")
	fx.rsaPub, fx.rsaPubDER, fx.cert, fx.certDER = p("rsa.pub.pem"), p("rsa.pub.der"), p("cert.pem"), p("cert.der")
	fx.ecSEC1, fx.ecPKCS8, fx.ecPub, fx.ecCert = p("ec.pem"), p("ec-pkcs8.pem"), p("ec.pub.pem"), p("ec-cert.pem")
	fx.rsaEncPKCS8, fx.rsaEncLegacy, fx.rsaEncDER, fx.ecEncScrypt = p("rsa-enc.pem"), p("rsa-enc-legacy.pem"), p("rsa-enc.der"), p("ec-enc-scrypt.pem")
	fx.passwordFile = p("password.txt")
	fx.otherRSA, fx.otherRSAPub, fx.otherCert = p("other.pem"), p("other.pub.pem"), p("other-cert.pem")
	steps := [][]string{
		{"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", fx.rsaPKCS8},
		{"rsa", "-in", fx.rsaPKCS8, "-traditional", "-out", fx.rsaPKCS1},
		{"pkey", "-in", fx.rsaPKCS8, "-outform", "DER", "-out", fx.rsaDER},
		{"rsa", "-in", fx.rsaPKCS8, "-traditional", "-outform", "DER", "-out", fx.rsaPKCS1DER},
		{"pkey", "-in", fx.rsaPKCS8, "-pubout", "-out", fx.rsaPub},
		{"pkey", "-in", fx.rsaPKCS8, "-pubout", "-outform", "DER", "-out", fx.rsaPubDER},
		{"req", "-x509", "-new", "-key", fx.rsaPKCS8, "-subj", "/CN=stockade-test", "-days", "2", "-out", fx.cert},
		{"x509", "-in", fx.cert, "-outform", "DER", "-out", fx.certDER},
		// EC P-256: SEC 1 with its EC PARAMETERS block, as `openssl ecparam -genkey` writes it.
		{"ecparam", "-name", "prime256v1", "-genkey", "-out", fx.ecSEC1},
		{"pkey", "-in", fx.ecSEC1, "-out", fx.ecPKCS8},
		{"pkey", "-in", fx.ecSEC1, "-pubout", "-out", fx.ecPub},
		{"req", "-x509", "-new", "-key", fx.ecSEC1, "-subj", "/CN=stockade-ec", "-days", "2", "-out", fx.ecCert},
		// Password-protected: PKCS#8 PBES2 (OpenSSL 3's default), legacy PEM, DER, scrypt.
		{"pkcs8", "-topk8", "-in", fx.rsaPKCS8, "-v2", "aes256", "-passout", "pass:" + testPassword, "-out", fx.rsaEncPKCS8},
		{"rsa", "-in", fx.rsaPKCS8, "-aes256", "-traditional", "-passout", "pass:" + testPassword, "-out", fx.rsaEncLegacy},
		{"pkcs8", "-topk8", "-in", fx.rsaPKCS8, "-v2", "aes128", "-v2prf", "hmacWithSHA1", "-outform", "DER", "-passout", "pass:" + testPassword, "-out", fx.rsaEncDER},
		{"pkcs8", "-topk8", "-in", fx.ecSEC1, "-scrypt", "-passout", "pass:" + testPassword, "-out", fx.ecEncScrypt},
		{"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", fx.otherRSA},
		{"pkey", "-in", fx.otherRSA, "-pubout", "-out", fx.otherRSAPub},
		{"req", "-x509", "-new", "-key", fx.otherRSA, "-subj", "/CN=stockade-other", "-days", "2", "-out", fx.otherCert},
	}
	for _, s := range steps {
		if err := openssl(s...); err != nil {
			return err
		}
	}
	if err := os.WriteFile(fx.passwordFile, []byte(testPassword), 0o600); err != nil {
		return err
	}

	// JWKs, from Go keys.
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	fx.rsaJWK, fx.ecJWK, fx.rsaPubJWK = p("rsa.jwk"), p("ec.jwk"), p("rsa.pub.jwk")
	for file, key := range map[string]any{fx.rsaJWK: rk, fx.ecJWK: ek, fx.rsaPubJWK: &rk.PublicKey} {
		b, err := jose.JSONWebKey{Key: key}.MarshalJSON()
		if err != nil {
			return err
		}
		if err := os.WriteFile(file, b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// read returns a fixture file.
func read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jwkPublic returns the public JWK of a private JWK file.
func jwkPublic(t testing.TB, path string) []byte {
	t.Helper()
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(read(t, path)); err != nil {
		t.Fatal(err)
	}
	pub := k.Public()
	if _, ok := pub.Key.(*ecdsa.PublicKey); ok {
		// ocicrypt takes a JWK without "alg" for RSA-OAEP.
		pub.Algorithm = string(jose.ECDH_ES_A256KW)
	}
	b, err := pub.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testLayer is a layer tar and its compressed blob.
type testLayer struct {
	tar  []byte
	blob []byte
	desc ocispec.Descriptor
}

// makeTar makes a tar with a few files, one of size n.
func makeTar(t testing.TB, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	big := make([]byte, n)
	for i := range big {
		big[i] = byte(i*7 + i/251)
	}
	files := []struct {
		name string
		data []byte
	}{{"etc/secret", []byte("the plaintext nobody may see\n")}, {"usr/lib/big.bin", big}}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// newLayer makes a layer compressed with comp ("gzip", "zstd" or "none").
func newLayer(t testing.TB, comp string, size int) testLayer {
	t.Helper()
	tb := makeTar(t, size)
	var blob []byte
	mt := ocispec.MediaTypeImageLayer
	switch comp {
	case "gzip":
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(tb)
		zw.Close()
		blob, mt = buf.Bytes(), ocispec.MediaTypeImageLayerGzip
	case "zstd":
		enc, err := zstd.NewWriter(nil)
		if err != nil {
			t.Fatal(err)
		}
		blob, mt = enc.EncodeAll(tb, nil), ocispec.MediaTypeImageLayerZstd
		enc.Close()
	default:
		blob = tb
	}
	return testLayer{tar: tb, blob: blob, desc: ocispec.Descriptor{
		MediaType: mt, Digest: digest.FromBytes(blob), Size: int64(len(blob)),
		Annotations: map[string]string{"org.example.keep": "yes"},
	}}
}

// decompress returns the tar inside a blob.
func decompress(t testing.TB, blob []byte) []byte {
	t.Helper()
	switch {
	case bytes.HasPrefix(blob, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(bytes.NewReader(blob))
		if err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return out
	case bytes.HasPrefix(blob, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		dec, err := zstd.NewReader(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer dec.Close()
		out, err := dec.DecodeAll(blob, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	return blob
}

// ocicryptEncrypt encrypts a layer with ocicrypt itself, for the
// recipients' parameters ("pubkeys", "x509s", ...).
func ocicryptEncrypt(t testing.TB, l testLayer, params map[string][][]byte) ([]byte, ocispec.Descriptor) {
	t.Helper()
	ec := &encconfig.EncryptConfig{Parameters: params, DecryptConfig: encconfig.DecryptConfig{Parameters: map[string][][]byte{}}}
	registryMu.RLock()
	r, fin, err := ocicrypt.EncryptLayer(ec, bytes.NewReader(l.blob), l.desc)
	registryMu.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	ct, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	wrapMu.Lock()
	ann, err := fin()
	wrapMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	d := l.desc
	d.MediaType += "+encrypted"
	d.Digest, d.Size = digest.FromBytes(ct), int64(len(ct))
	d.Annotations = map[string]string{}
	for k, v := range l.desc.Annotations {
		d.Annotations[k] = v
	}
	for k, v := range ann {
		d.Annotations[k] = v
	}
	return ct, d
}

// encryptHere encrypts a layer with EncryptLayer.
func encryptHere(t testing.TB, l testLayer, recipients ...string) ([]byte, ocispec.Descriptor) {
	t.Helper()
	rc, err := ParseRecipients(recipients)
	if err != nil {
		t.Fatal(err)
	}
	r, done, err := EncryptLayer(context.Background(), rc, l.desc, bytes.NewReader(l.blob))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	d, err := done()
	if err != nil {
		t.Fatal(err)
	}
	return ct, d
}

// decryptAll decrypts a whole layer.
func decryptAll(d *Decrypter, desc ocispec.Descriptor, ct []byte) ([]byte, error) {
	r, err := d.Decrypt(context.Background(), desc, bytes.NewReader(ct))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// mustKeys is ParseKeys that must succeed.
func mustKeys(t testing.TB, keys, decRecipients []string, dir string, explicit bool) *Decrypter {
	t.Helper()
	d, err := ParseKeys(keys, decRecipients, dir, explicit)
	if err != nil {
		t.Fatalf("ParseKeys: %v", err)
	}
	return d
}

// writeJSON writes v as JSON to path.
func writeJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// errText returns err's text, or "<nil>".
func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func osWriteFile(p string, b []byte) error { return os.WriteFile(p, b, 0o600) }
