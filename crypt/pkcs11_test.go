package crypt

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const pkcs11KeyFile = `pkcs11:
  uri: pkcs11:token=stockade;object=layerkey?module-name=softhsm2&pin-value=1234
module:
  env:
    SOFTHSM2_CONF: /nonexistent/softhsm2.conf
`

// TestPKCS11KeyFile checks how PKCS#11 key files are taken: parsed (and
// put in the ocicrypt configuration) by a cgo build, refused with a clear
// error by a CGO_ENABLED=0 build.
func TestPKCS11KeyFile(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "hsm.yaml")
	if err := os.WriteFile(key, []byte(pkcs11KeyFile), 0o600); err != nil {
		t.Fatal(err)
	}
	keysDir := filepath.Join(dir, "keys")
	os.Mkdir(keysDir, 0o700)
	os.WriteFile(filepath.Join(keysDir, "hsm.yaml"), []byte(pkcs11KeyFile), 0o600)
	t.Setenv("OCICRYPT_CONFIG", "internal")

	if !pkcs11Supported {
		want := "--key " + key + ": pkcs11 keys need a cgo build of stockade"
		if _, err := ParseKeys([]string{key}, nil, "", false); errText(err) != want {
			t.Errorf("--key:\n got %v\nwant %s", err, want)
		}
		want = "--encrypt pkcs11:" + key + ": pkcs11 keys need a cgo build of stockade"
		if _, err := ParseRecipients([]string{"pkcs11:" + key}); errText(err) != want {
			t.Errorf("--encrypt:\n got %v\nwant %s", err, want)
		}
		want = "decryption_keys_path " + keysDir + ": " + filepath.Join(keysDir, "hsm.yaml") + ": pkcs11 keys need a cgo build of stockade"
		if _, err := ParseKeys(nil, nil, keysDir, true); errText(err) != want {
			t.Errorf("keys dir:\n got %v\nwant %s", err, want)
		}
		return
	}
	d, err := ParseKeys([]string{key}, nil, keysDir, true)
	if err != nil {
		t.Fatal(err)
	}
	if ks := d.Keys(); len(ks) != 2 || ks[0].Kind != "PKCS#11" || len(d.params["pkcs11-config"]) != 1 || len(d.params["pkcs11-yamls"]) != 2 {
		t.Fatalf("keys %+v, params %v", ks, d.params)
	}
	rc, err := ParseRecipients([]string{"pkcs11:" + key, "pkcs11:" + fx.rsaPub})
	if err != nil {
		t.Fatal(err)
	}
	if len(rc.params["pkcs11-yamls"]) != 1 || len(rc.params["pkcs11-pubkeys"]) != 1 || len(rc.decParams["pkcs11-config"]) != 1 {
		t.Fatalf("params %v", rc.params)
	}
}

// TestPKCS11NoCgoBuild runs TestPKCS11KeyFile in a CGO_ENABLED=0 build,
// so that the refusal is tested by the usual (cgo) test run too.
func TestPKCS11NoCgoBuild(t *testing.T) {
	if !pkcs11Supported {
		return // this is the CGO_ENABLED=0 run
	}
	if testing.Short() {
		t.Skip("builds the package again without cgo")
	}
	cmd := exec.Command("go", "test", "-count=1", "-run", "^TestPKCS11KeyFile$", "-v", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestPKCS11KeyFile") {
		t.Fatalf("CGO_ENABLED=0 go test: %v\n%s", err, out)
	}
}
