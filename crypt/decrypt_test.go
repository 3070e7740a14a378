package crypt

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestDecryptKeyFormats encrypts layers with ocicrypt for each kind of key
// and decrypts them with ParseKeys + Decrypt, comparing bytes.
func TestDecryptKeyFormats(t *testing.T) {
	rsaPub := [][]byte{read(t, fx.rsaPub)}
	ecPub := [][]byte{read(t, fx.ecPub)}
	cases := []struct {
		name    string
		comp    string
		params  map[string][][]byte
		keys    []string
		decRcpt []string
	}{
		{"jwe rsa pkcs8 pem", "gzip", map[string][][]byte{"pubkeys": rsaPub}, []string{fx.rsaPKCS8}, nil},
		{"jwe rsa pkcs1 pem", "zstd", map[string][][]byte{"pubkeys": rsaPub}, []string{fx.rsaPKCS1}, nil},
		{"jwe rsa pkcs8 der", "none", map[string][][]byte{"pubkeys": rsaPub}, []string{fx.rsaDER}, nil},
		{"jwe rsa pkcs1 der", "gzip", map[string][][]byte{"pubkeys": rsaPub}, []string{fx.rsaPKCS1DER}, nil},
		{"jwe ec sec1 pem with parameters", "zstd", map[string][][]byte{"pubkeys": ecPub}, []string{fx.ecSEC1}, nil},
		{"jwe ec pkcs8 pem", "gzip", map[string][][]byte{"pubkeys": ecPub}, []string{fx.ecPKCS8}, nil},
		{"jwe rsa encrypted pkcs8, password", "zstd", map[string][][]byte{"pubkeys": rsaPub}, []string{fx.rsaEncPKCS8 + ":" + testPassword}, nil},
		{"jwe rsa legacy encrypted pem, pass=", "gzip", map[string][][]byte{"pubkeys": rsaPub}, []string{fx.rsaEncLegacy + ":pass=" + testPassword}, nil},
		{"jwe rsa encrypted pkcs8 der, file=", "gzip", map[string][][]byte{"pubkeys": rsaPub}, []string{fx.rsaEncDER + ":file=" + fx.passwordFile}, nil},
		{"jwe ec encrypted pkcs8 scrypt", "zstd", map[string][][]byte{"pubkeys": ecPub}, []string{fx.ecEncScrypt + ":" + testPassword}, nil},
		{"jwe rsa jwk", "gzip", map[string][][]byte{"pubkeys": {jwkPublic(t, fx.rsaJWK)}}, []string{fx.rsaJWK}, nil},
		{"jwe ec jwk", "zstd", map[string][][]byte{"pubkeys": {jwkPublic(t, fx.ecJWK)}}, []string{fx.ecJWK}, nil},
		{"pkcs7 with --dec-recipient", "gzip", map[string][][]byte{"x509s": {read(t, fx.cert)}}, []string{fx.rsaPKCS8}, []string{"pkcs7:" + fx.cert}},
		{"pkcs7 with the cert as --key (der)", "zstd", map[string][][]byte{"x509s": {read(t, fx.cert)}}, []string{fx.rsaPKCS1, fx.certDER}, nil},
		{"jwe+pkcs7, opened by pkcs7", "gzip", map[string][][]byte{"pubkeys": {read(t, fx.otherRSAPub)}, "x509s": {read(t, fx.cert)}}, []string{fx.rsaEncLegacy + ":" + testPassword}, []string{"pkcs7:" + fx.cert}},
		{"two recipients, second key opens", "zstd", map[string][][]byte{"pubkeys": {read(t, fx.otherRSAPub), read(t, fx.ecPub)}}, []string{fx.rsaPKCS8, fx.ecPKCS8}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newLayer(t, tc.comp, 300_000)
			ct, desc := ocicryptEncrypt(t, l, tc.params)
			d := mustKeys(t, tc.keys, tc.decRcpt, "", false)
			got, err := decryptAll(d, desc, ct)
			if err != nil {
				t.Fatalf("decrypt: %v", err)
			}
			if !bytes.Equal(got, l.blob) {
				t.Fatalf("plaintext differs (%d bytes, want %d)", len(got), len(l.blob))
			}
			if !bytes.Equal(decompress(t, got), l.tar) {
				t.Fatal("tar differs")
			}
		})
	}
}

// TestDecryptRefusals checks every way Decrypt refuses, with its exact
// message.
func TestDecryptRefusals(t *testing.T) {
	l := newLayer(t, "gzip", 50_000)
	jweCT, jweDesc := ocicryptEncrypt(t, l, map[string][][]byte{"pubkeys": {read(t, fx.rsaPub)}})
	p7CT, p7Desc := ocicryptEncrypt(t, l, map[string][][]byte{"x509s": {read(t, fx.cert)}})
	twoCT, twoDesc := ocicryptEncrypt(t, l, map[string][][]byte{"pubkeys": {read(t, fx.rsaPub)}, "x509s": {read(t, fx.cert)}})
	D := string(jweDesc.Digest)

	emptyDir := t.TempDir()
	otherDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(otherDir, "other.pem"), read(t, fx.otherRSA), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing")

	with := func(desc ocispec.Descriptor, key, value string) ocispec.Descriptor {
		d := desc
		d.Annotations = map[string]string{}
		for k, v := range desc.Annotations {
			d.Annotations[k] = v
		}
		if value == "" {
			delete(d.Annotations, key)
		} else {
			d.Annotations[key] = value
		}
		return d
	}
	notJWE := base64.StdEncoding.EncodeToString([]byte(`{"protected":"x"}`))

	cases := []struct {
		name string
		d    *Decrypter
		desc ocispec.Descriptor
		ct   []byte
		kind error
		want string
	}{
		{"no keys, default dir missing", mustKeys(t, nil, nil, missing, false), jweDesc, jweCT, ErrNoKeys,
			"layer " + D + ": encrypted for jwe; no decryption keys: no --key given and " + missing + " does not exist"},
		{"no keys, empty dir", mustKeys(t, nil, nil, emptyDir, true), jweDesc, jweCT, ErrNoKeys,
			"layer " + D + ": encrypted for jwe; no decryption keys: no --key given and " + emptyDir + " has none"},
		{"no keys, no dir", nil, jweDesc, jweCT, ErrNoKeys,
			"layer " + D + ": encrypted for jwe; no decryption keys: no --key given and no decryption_keys_path"},
		{"wrong key, one from --key and one in the dir", mustKeys(t, []string{fx.ecPKCS8}, nil, otherDir, true), jweDesc, jweCT, ErrWrongKey,
			"layer " + D + ": encrypted for jwe; none of the 2 keys (1 from --key, 1 in " + otherDir + ") opens it"},
		{"wrong key, the only one", mustKeys(t, []string{fx.otherRSA}, nil, "", false), jweDesc, jweCT, ErrWrongKey,
			"layer " + D + ": encrypted for jwe; the only key (from --key) does not open it"},
		{"wrong key for two schemes", mustKeys(t, []string{fx.otherRSA}, []string{"pkcs7:" + fx.otherCert}, "", false), twoDesc, twoCT, ErrWrongKey,
			"layer " + string(twoDesc.Digest) + ": encrypted for jwe, pkcs7; the only key (from --key) does not open it"},
		{"pkcs7 without its certificate", mustKeys(t, []string{fx.rsaPKCS8}, nil, "", false), p7Desc, p7CT, ErrWrongKey,
			"layer " + string(p7Desc.Digest) + ": encrypted for pkcs7; the only key (from --key) does not open it (it needs an RSA private key and its certificate (--dec-recipient pkcs7:CERT))"},
		{"pkcs7 and jwe, wrong jwe key, no certificate", mustKeys(t, []string{fx.otherRSA}, nil, "", false), twoDesc, twoCT, ErrWrongKey,
			"layer " + string(twoDesc.Digest) + ": encrypted for jwe, pkcs7; the only key (from --key) does not open it; pkcs7 also needs the recipient's certificate (--dec-recipient pkcs7:CERT)"},
		{"wrapped key not base64", mustKeys(t, []string{fx.rsaPKCS8}, nil, "", false), with(jweDesc, AnnotationKeysPrefix+"jwe", "!!not-base64!!"), jweCT, ErrCorrupt,
			"layer " + D + ": wrapped key is corrupt (annotation org.opencontainers.image.enc.keys.jwe: not base64)"},
		{"wrapped key not a JWE", mustKeys(t, []string{fx.rsaPKCS8}, nil, "", false), with(jweDesc, AnnotationKeysPrefix+"jwe", notJWE), jweCT, ErrCorrupt,
			"layer " + D + ": wrapped key is corrupt (annotation org.opencontainers.image.enc.keys.jwe: not a JWE)"},
		{"pubopts not base64", mustKeys(t, []string{fx.rsaPKCS8}, nil, "", false), with(jweDesc, AnnotationPubOpts, "%%%"), jweCT, ErrCorrupt,
			"layer " + D + ": annotation org.opencontainers.image.enc.pubopts is corrupt: not base64"},
		{"pubopts missing", mustKeys(t, []string{fx.rsaPKCS8}, nil, "", false), with(jweDesc, AnnotationPubOpts, ""), jweCT, ErrCorrupt,
			"layer " + D + ": annotation org.opencontainers.image.enc.pubopts is corrupt: missing"},
		{"pubopts without hmac", mustKeys(t, []string{fx.rsaPKCS8}, nil, "", false), with(jweDesc, AnnotationPubOpts, base64.StdEncoding.EncodeToString([]byte(`{"cipher":"AES_256_CTR_HMAC_SHA256"}`))), jweCT, ErrCorrupt,
			"layer " + D + ": annotation org.opencontainers.image.enc.pubopts is corrupt: no HMAC"},
		{"no wrapped key at all", mustKeys(t, []string{fx.rsaPKCS8}, nil, "", false), with(jweDesc, AnnotationKeysPrefix+"jwe", ""), jweCT, ErrCorrupt,
			"layer " + D + ": media type says encrypted, but there is no wrapped key (no org.opencontainers.image.enc.keys.* annotation)"},
		{"not an encrypted media type", mustKeys(t, []string{fx.rsaPKCS8}, nil, "", false), l.desc, l.blob, nil,
			"layer " + string(l.desc.Digest) + ": media type \"application/vnd.oci.image.layer.v1.tar+gzip\" is not an encrypted layer type"},
		{"only a certificate given", mustKeys(t, []string{fx.cert}, nil, "", false), jweDesc, jweCT, ErrNoKeys,
			"layer " + D + ": encrypted for jwe; no decryption keys: --key gave only certificates and no decryption_keys_path"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.d.Decrypt(context.Background(), tc.desc, bytes.NewReader(tc.ct))
			if err == nil {
				_, err = io.ReadAll(r)
				t.Fatalf("no error at Decrypt (read: %v)", err)
			}
			if err.Error() != tc.want {
				t.Errorf("error\n got %s\nwant %s", err, tc.want)
			}
			if tc.kind != nil && !errors.Is(err, tc.kind) {
				t.Errorf("error does not wrap %v", tc.kind)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error has more than one line")
			}
		})
	}
}

// TestDecryptStreamFailures checks the failures found while streaming:
// they surface at the end of the stream, as errors, never as a short
// plaintext ending in io.EOF.
func TestDecryptStreamFailures(t *testing.T) {
	l := newLayer(t, "zstd", 200_000)
	ct, desc := ocicryptEncrypt(t, l, map[string][][]byte{"pubkeys": {read(t, fx.rsaPub)}})
	d := mustKeys(t, []string{fx.rsaPKCS8}, nil, "", false)
	d.StrictDigest = true
	D := string(desc.Digest)
	authMsg := "layer " + D + ": ciphertext fails authentication (HMAC mismatch at end of stream): the layer was altered or truncated"

	flipped := bytes.Clone(ct)
	flipped[len(flipped)/2] ^= 0x40
	flippedLast := bytes.Clone(ct)
	flippedLast[len(flippedLast)-1] ^= 1

	// A layer whose encrypted options name another plain digest.
	other := l
	other.desc.Digest = digest.FromString("some other layer")
	wrongCT, wrongDesc := ocicryptEncrypt(t, other, map[string][][]byte{"pubkeys": {read(t, fx.rsaPub)}})

	boom := errors.New("connection reset by peer")
	cases := []struct {
		name string
		desc ocispec.Descriptor
		r    io.Reader
		kind error
		want string
	}{
		{"byte flipped in the middle", desc, bytes.NewReader(flipped), ErrAuthentication, authMsg},
		{"last byte flipped", desc, bytes.NewReader(flippedLast), ErrAuthentication, authMsg},
		{"truncated", desc, bytes.NewReader(ct[:len(ct)-1000]), ErrAuthentication, authMsg},
		{"truncated to nothing", desc, bytes.NewReader(nil), ErrAuthentication, authMsg},
		{"extra bytes", desc, bytes.NewReader(append(bytes.Clone(ct), 0, 1, 2)), ErrAuthentication, authMsg},
		{"digest mismatch", wrongDesc, bytes.NewReader(wrongCT), ErrDigestMismatch,
			"layer " + string(wrongDesc.Digest) + ": decrypted layer is " + string(l.desc.Digest) + ", but its encryption options name " + string(other.desc.Digest)},
		{"read error", desc, io.MultiReader(bytes.NewReader(ct[:len(ct)/2]), iotestErrReader{boom}), boom,
			"layer " + D + ": reading encrypted layer: connection reset by peer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := d.Decrypt(context.Background(), tc.desc, tc.r)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			got, err := io.ReadAll(r)
			if err == nil {
				t.Fatalf("read %d bytes and no error", len(got))
			}
			if err.Error() != tc.want {
				t.Errorf("error\n got %s\nwant %s", err, tc.want)
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("error does not wrap %v", tc.kind)
			}
			// The error sticks.
			if n, err2 := r.Read(make([]byte, 10)); n != 0 || err2 == nil || errors.Is(err2, io.EOF) {
				t.Errorf("read after failure: %d, %v", n, err2)
			}
		})
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

// TestDecryptContext checks that a cancelled context stops the stream.
func TestDecryptContext(t *testing.T) {
	l := newLayer(t, "gzip", 500_000)
	ct, desc := ocicryptEncrypt(t, l, map[string][][]byte{"pubkeys": {read(t, fx.rsaPub)}})
	d := mustKeys(t, []string{fx.rsaPKCS8}, nil, "", false)
	ctx, cancel := context.WithCancel(context.Background())
	r, err := d.Decrypt(ctx, desc, bytes.NewReader(ct))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	cancel()
	_, err = io.ReadAll(r)
	if !errors.Is(err, context.Canceled) || err.Error() != "layer "+string(desc.Digest)+": decrypt: context canceled" {
		t.Fatalf("err = %v", err)
	}
	if _, err := d.Decrypt(ctx, desc, bytes.NewReader(ct)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Decrypt with a cancelled context: %v", err)
	}
}

// TestDecryptConcurrent decrypts many layers at once with one Decrypter
// (run with -race).
func TestDecryptConcurrent(t *testing.T) {
	d := mustKeys(t, []string{fx.rsaPKCS8, fx.ecSEC1}, []string{"pkcs7:" + fx.cert}, "", false)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := newLayer(t, []string{"gzip", "zstd"}[i%2], 20_000+i)
			params := map[string][][]byte{"pubkeys": {read(t, fx.ecPub)}}
			if i%3 == 0 {
				params = map[string][][]byte{"x509s": {read(t, fx.cert)}}
			}
			var ct []byte
			var desc ocispec.Descriptor
			if i%2 == 0 {
				ct, desc = ocicryptEncrypt(t, l, params)
			} else {
				ct, desc = encryptHere(t, l, "jwe:"+fx.rsaPub, "pkcs7:"+fx.cert)
			}
			got, err := decryptAll(d, desc, ct)
			if err != nil || !bytes.Equal(got, l.blob) {
				t.Errorf("layer %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
}

// TestDigestMismatchLenient checks the default: a plaintext that is not
// the layer its options name is delivered, and reported to Warn.
func TestDigestMismatchLenient(t *testing.T) {
	l := newLayer(t, "gzip", 10_000)
	other := l
	other.desc.Digest = digest.FromString("some other layer")
	ct, desc := ocicryptEncrypt(t, other, map[string][][]byte{"pubkeys": {read(t, fx.rsaPub)}})
	d := mustKeys(t, []string{fx.rsaPKCS8}, nil, "", false)
	var warned []string
	d.Warn = func(m string) { warned = append(warned, m) }
	got, err := decryptAll(d, desc, ct)
	if err != nil || !bytes.Equal(got, l.blob) {
		t.Fatalf("decrypt: %v", err)
	}
	want := "layer " + string(desc.Digest) + ": decrypted layer is " + string(l.desc.Digest) + ", but its encryption options name " + string(other.desc.Digest) +
		" (containers/image names the layer before it recompressed it; the HMAC matched)"
	if len(warned) != 1 || warned[0] != want {
		t.Errorf("warnings %q", warned)
	}
	// A matching digest gives no warning.
	warned = nil
	ct, desc = ocicryptEncrypt(t, l, map[string][][]byte{"pubkeys": {read(t, fx.rsaPub)}})
	d.StrictDigest = true
	if _, err := decryptAll(d, desc, ct); err != nil || len(warned) != 0 {
		t.Errorf("%v %q", err, warned)
	}
}

// Decrypt has image.DecryptFunc's signature.
var _ func(context.Context, ocispec.Descriptor, io.Reader) (io.Reader, error) = (*Decrypter)(nil).Decrypt

// FuzzDecryptAnnotations feeds Decrypt hostile annotations and streams:
// it must fail cleanly, never panic.
func FuzzDecryptAnnotations(f *testing.F) {
	l := newLayer(f, "gzip", 1000)
	ct, desc := ocicryptEncrypt(f, l, map[string][][]byte{"pubkeys": {read(f, fx.rsaPub)}, "x509s": {read(f, fx.cert)}})
	f.Add(desc.Annotations[AnnotationKeysPrefix+"jwe"], desc.Annotations[AnnotationKeysPrefix+"pkcs7"], desc.Annotations[AnnotationPubOpts], ct)
	f.Add("", "", "", []byte{})
	f.Add("e30=,e30=", "AAAA", "eyJjaXBoZXIiOiJBRVNfMjU2X0NUUl9ITUFDX1NIQTI1NiIsImhtYWMiOiJBQT09In0=", []byte("x"))
	d, err := ParseKeys([]string{fx.rsaPKCS8}, []string{"pkcs7:" + fx.cert}, "", false)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, jwe, p7, pub string, data []byte) {
		dd := desc
		dd.Annotations = map[string]string{AnnotationKeysPrefix + "jwe": jwe, AnnotationKeysPrefix + "pkcs7": p7,
			AnnotationKeysPrefix + "pgp": p7, AnnotationPubOpts: pub}
		r, err := d.Decrypt(context.Background(), dd, bytes.NewReader(data))
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		if _, err := io.ReadAll(r); err == nil && (jwe != desc.Annotations[AnnotationKeysPrefix+"jwe"] || !bytes.Equal(data, ct)) && pub != desc.Annotations[AnnotationPubOpts] {
			t.Errorf("a forged layer decrypted without error")
		}
	})
}
