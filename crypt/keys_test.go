package crypt

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeysDir walks a keys directory: keys in subdirectories are found,
// certificates are used for pkcs7, other files are skipped and reported.
func TestKeysDir(t *testing.T) {
	dir := t.TempDir()
	put := func(name string, data []byte) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	put("a/other.pem", read(t, fx.otherRSA))
	put("b/c/ec.pem", read(t, fx.ecSEC1))
	put("b/rsa.der", read(t, fx.rsaPKCS1DER))
	put("cert.pem", read(t, fx.cert))
	put("README", []byte("keys for the production registry\n"))
	put("rsa.pub.pem", read(t, fx.rsaPub))

	d := mustKeys(t, nil, nil, dir, true)
	if n := len(d.Keys()); n != 3 {
		t.Fatalf("%d keys: %+v", n, d.Keys())
	}
	if n := len(d.Certificates()); n != 1 {
		t.Fatalf("%d certificates", n)
	}
	skipped := strings.Join(d.Skipped(), "\n")
	if !strings.Contains(skipped, filepath.Join(dir, "README")+": not a key") ||
		!strings.Contains(skipped, filepath.Join(dir, "rsa.pub.pem")+": is a public key; decryption needs the private key") {
		t.Errorf("skipped:\n%s", skipped)
	}
	for _, k := range d.Keys() {
		if k.Source != SourceKeysDir {
			t.Errorf("key %+v", k)
		}
	}

	// Every key is tried: layers for each of them open.
	l := newLayer(t, "zstd", 10_000)
	for _, params := range []map[string][][]byte{
		{"pubkeys": {read(t, fx.ecPub)}},
		{"pubkeys": {read(t, fx.rsaPub)}},
		{"x509s": {read(t, fx.cert)}},
	} {
		ct, desc := ocicryptEncrypt(t, l, params)
		got, err := decryptAll(d, desc, ct)
		if err != nil || !bytes.Equal(got, l.blob) {
			t.Errorf("%v: %v", params, err)
		}
	}

	// --key and the directory add up.
	d2 := mustKeys(t, []string{fx.rsaPKCS8}, nil, dir, false)
	if len(d2.Keys()) != 4 || d2.Keys()[0].Source != SourceFlag {
		t.Errorf("keys %+v", d2.Keys())
	}
}

// TestParseKeysRefusals checks every refusal of ParseKeys with its exact
// message.
func TestParseKeysRefusals(t *testing.T) {
	tmp := t.TempDir()
	file := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(tmp, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	junk := file("junk.txt", []byte("hello\n"))
	big := file("big.bin", bytes.Repeat([]byte{1}, maxKeyFile+1))
	ed := filepath.Join(tmp, "ed25519.pem")
	if err := openssl("genpkey", "-algorithm", "ed25519", "-out", ed); err != nil {
		t.Fatal(err)
	}

	symDir := filepath.Join(tmp, "symdir")
	file("symdir/sub/good.pem", read(t, fx.rsaPKCS8))
	if err := os.Symlink(fx.otherRSA, filepath.Join(symDir, "sub", "link.pem")); err != nil {
		t.Fatal(err)
	}
	pwDir := filepath.Join(tmp, "pwdir")
	file("pwdir/enc.pem", read(t, fx.rsaEncPKCS8))
	missing := filepath.Join(tmp, "nope")
	notDir := junk

	cases := []struct {
		name     string
		keys     []string
		decRcpt  []string
		dir      string
		explicit bool
		want     string
	}{
		{"missing key file", []string{missing + ".pem"}, nil, "", false,
			"--key " + missing + ".pem: no such file or directory"},
		{"public key as --key", []string{fx.rsaPub}, nil, "", false,
			"--key " + fx.rsaPub + ": is a public key; decryption needs the private key"},
		{"public JWK as --key", []string{fx.rsaPubJWK}, nil, "", false,
			"--key " + fx.rsaPubJWK + ": is a public key; decryption needs the private key"},
		{"password-protected PKCS#8 without password", []string{fx.rsaEncPKCS8}, nil, "", false,
			"--key " + fx.rsaEncPKCS8 + ": the key is password-protected; give the password as FILE:PASSWORD"},
		{"legacy encrypted PEM without password", []string{fx.rsaEncLegacy}, nil, "", false,
			"--key " + fx.rsaEncLegacy + ": the key is password-protected; give the password as FILE:PASSWORD"},
		{"wrong password, PKCS#8", []string{fx.rsaEncPKCS8 + ":nope"}, nil, "", false,
			"--key " + fx.rsaEncPKCS8 + ": wrong password"},
		{"wrong password, legacy PEM", []string{fx.rsaEncLegacy + ":pass=nope"}, nil, "", false,
			"--key " + fx.rsaEncLegacy + ": wrong password"},
		{"wrong password, scrypt", []string{fx.ecEncScrypt + ":nope"}, nil, "", false,
			"--key " + fx.ecEncScrypt + ": wrong password"},
		{"password file missing", []string{fx.rsaEncPKCS8 + ":file=" + missing}, nil, "", false,
			"--key " + fx.rsaEncPKCS8 + ": password: open " + missing + ": no such file or directory"},
		{"not a key", []string{junk}, nil, "", false,
			"--key " + junk + ": " + errNotAKey.Error()},
		{"too large", []string{big}, nil, "", false,
			"--key " + big + ": too large to be a key"},
		{"ed25519 key", []string{ed}, nil, "", false,
			"--key " + ed + ": ed25519.PrivateKey keys cannot be used with OCI-crypt (RSA or EC only)"},
		{"unknown key provider", []string{"provider:nosuch"}, nil, "", false,
			"--key provider:nosuch: key provider \"nosuch\" is not configured (OCICRYPT_KEYPROVIDER_CONFIG)"},
		{"--dec-recipient jwe", nil, []string{"jwe:" + fx.rsaPub}, "", false,
			"--dec-recipient jwe:" + fx.rsaPub + ": only pkcs7:CERT is used for decryption"},
		{"--dec-recipient not a certificate", nil, []string{"pkcs7:" + fx.rsaPKCS8}, "", false,
			"--dec-recipient pkcs7:" + fx.rsaPKCS8 + ": not an x509 certificate"},
		{"--dec-recipient without scheme", nil, []string{fx.cert}, "", false,
			"--dec-recipient " + fx.cert + ": expected pkcs7:CERT"},
		{"explicit keys dir missing", nil, nil, missing, true,
			"decryption_keys_path " + missing + ": does not exist"},
		{"keys dir is a file", nil, nil, notDir, false,
			"decryption_keys_path " + notDir + ": not a directory"},
		{"symlink in keys dir", nil, nil, symDir, false,
			"decryption_keys_path " + symDir + ": " + filepath.Join(symDir, "sub", "link.pem") + " is a symbolic link; symbolic links are not allowed there"},
		{"password-protected key in keys dir", nil, nil, pwDir, true,
			"decryption_keys_path " + pwDir + ": " + filepath.Join(pwDir, "enc.pem") + " is password-protected, and keys there cannot have a password (use --key FILE:PASSWORD)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseKeys(tc.keys, tc.decRcpt, tc.dir, tc.explicit)
			if err == nil {
				t.Fatalf("no error; keys %+v", d.Keys())
			}
			if err.Error() != tc.want {
				t.Errorf("error\n got %s\nwant %s", err, tc.want)
			}
		})
	}

	// A missing default keys dir is fine.
	d := mustKeys(t, nil, nil, missing, false)
	if len(d.Keys()) != 0 {
		t.Error("keys from nowhere")
	}
}

// TestKeyArgWithColon checks that a key file whose name holds a colon is
// read whole, and that a password with colons is kept whole.
func TestKeyArgWithColon(t *testing.T) {
	p := filepath.Join(t.TempDir(), "key:with:colons.pem")
	if err := os.WriteFile(p, read(t, fx.rsaPKCS8), 0o600); err != nil {
		t.Fatal(err)
	}
	if d := mustKeys(t, []string{p}, nil, "", false); len(d.Keys()) != 1 {
		t.Fatal("no key")
	}
	enc := filepath.Join(t.TempDir(), "enc.pem")
	if err := openssl("pkcs8", "-topk8", "-in", fx.rsaPKCS8, "-v2", "aes256", "-passout", "pass:a:b:c", "-out", enc); err != nil {
		t.Fatal(err)
	}
	if d := mustKeys(t, []string{enc + ":a:b:c"}, nil, "", false); len(d.Keys()) != 1 || d.Keys()[0].Kind != "RSA 2048" {
		t.Fatalf("keys %+v", d.Keys())
	}
}
