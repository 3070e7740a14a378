package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// cryptKeyFiles are key files made with openssl, once for all tests.
type cryptKeyFiles struct {
	dir                string
	rsaPriv, rsaPub    string // RSA 2048, PKCS#8 and PKIX PEM
	ecPriv, ecPub      string // EC P-256, SEC 1 and PKIX PEM
	cert               string // self-signed x509 of the RSA key (pkcs7)
	other, otherPub    string // another RSA key pair
	rsaEnc, rsaEncPass string // the RSA key, encrypted PKCS#8, and its password
}

// keys makes the test's key files with openssl.
func keys(t *testing.T) cryptKeyFiles {
	t.Helper()
	need(t, "openssl")
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	k := cryptKeyFiles{dir: dir, rsaPriv: p("priv.pem"), rsaPub: p("pub.pem"), ecPriv: p("ec.pem"), ecPub: p("ec.pub.pem"),
		cert: p("cert.pem"), other: p("other.pem"), otherPub: p("other.pub.pem"), rsaEnc: p("priv-enc.pem"), rsaEncPass: "e2e pass"}
	for _, args := range [][]string{
		{"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", k.rsaPriv},
		{"pkey", "-in", k.rsaPriv, "-pubout", "-out", k.rsaPub},
		{"ecparam", "-name", "prime256v1", "-genkey", "-out", k.ecPriv},
		{"pkey", "-in", k.ecPriv, "-pubout", "-out", k.ecPub},
		{"req", "-x509", "-new", "-key", k.rsaPriv, "-subj", "/CN=stockade-e2e", "-days", "2", "-out", k.cert},
		{"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", k.other},
		{"pkey", "-in", k.other, "-pubout", "-out", k.otherPub},
		{"pkcs8", "-topk8", "-in", k.rsaPriv, "-v2", "aes256", "-passout", "pass:" + k.rsaEncPass, "-out", k.rsaEnc},
	} {
		sh(t, "openssl", args...)
	}
	return k
}

// skopeoEncrypt copies the layout's image to dest, encrypted for the
// recipients by skopeo, keeping gzip ("gzip") or recompressed to zstd.
// layers chooses the layers (skopeo's --encrypt-layer); none means all.
func skopeoEncrypt(t *testing.T, layout, dest, compression string, recipients []string, layers ...int) {
	t.Helper()
	need(t, "skopeo")
	src := "oci:" + layout + ":t"
	args := []string{"copy", "-q", "--dest-tls-verify=false"}
	if compression == "zstd" {
		// skopeo 1.9 keeps compressed blobs: decompress them first, so
		// that it compresses (then encrypts) with zstd.
		dir := filepath.Join(t.TempDir(), "plain")
		sh(t, "skopeo", "copy", "-q", "--dest-decompress", src, "dir:"+dir)
		src = "dir:" + dir
		args = append(args, "--dest-compress-format", "zstd")
	}
	for _, r := range recipients {
		args = append(args, "--encryption-key", r)
	}
	for _, l := range layers {
		args = append(args, "--encrypt-layer", fmt.Sprint(l))
	}
	sh(t, "skopeo", append(args, src, "docker://"+dest)...)
}

// cryptRecord is the part of an image record these tests read.
type cryptRecord struct {
	Name              string   `json:"name"`
	ID                string   `json:"id"`
	ChainIDs          []string `json:"chainIDs"`
	Encrypted         bool     `json:"encrypted"`
	EncryptionSchemes []string `json:"encryptionSchemes"`
	Layers            []struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Annotations map[string]string `json:"annotations"`
	} `json:"layers"`
}

func (e *env) cryptRecord(name string) cryptRecord {
	e.t.Helper()
	r := e.must("inspect", name)
	var recs []cryptRecord
	if err := json.Unmarshal([]byte(r.stdout), &recs); err != nil || len(recs) != 1 {
		e.t.Fatalf("inspect %s: %v: %s", name, err, r.stdout)
	}
	return recs[0]
}

// writeConfig writes the env's configuration file.
func (e *env) writeConfig(toml string) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.dir, "stockade.toml"), []byte(toml), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// cryptLayout is a two-layer image: a base and a layer that changes it.
func cryptLayout(t *testing.T) string {
	return umociImage(t,
		writeFiles(map[string]string{"bin/app": "#!/bin/sh\necho app\n", "etc/motd": "base\n", "etc/secret": "s3cr3t\n", "opt/old": "old"}),
		writeFiles(map[string]string{"etc/motd": "top\n", "opt/new": strings.Repeat("new ", 50000)}),
	)
}

// checkCryptRootfs checks the files of cryptLayout's image.
func checkCryptRootfs(t *testing.T, e *env, ref string) {
	t.Helper()
	root := e.rootfs(ref)
	for path, want := range map[string]string{"etc/motd": "top\n", "etc/secret": "s3cr3t\n", "opt/old": "old", "opt/new": strings.Repeat("new ", 50000)} {
		if got := readFile(t, filepath.Join(root, path)); got != want {
			t.Errorf("%s: %d bytes %.20q, want %.20q", path, len(got), got, want)
		}
	}
}

// TestCryptPullSkopeoImages pulls images skopeo encrypted (JWE with RSA
// and EC keys, PKCS7; gzip and zstd) with --key and checks the files.
func TestCryptPullSkopeoImages(t *testing.T) {
	k := keys(t)
	layout := cryptLayout(t)
	cases := []struct {
		name      string
		recipient string
		args      []string
		scheme    string
	}{
		{"jwe-rsa", "jwe:" + k.rsaPub, []string{"--key", k.rsaPriv}, "jwe"},
		{"jwe-rsa-password", "jwe:" + k.rsaPub, []string{"--key", k.rsaEnc + ":" + k.rsaEncPass}, "jwe"},
		{"jwe-ec", "jwe:" + k.ecPub, []string{"--key", k.ecPriv}, "jwe"},
		{"pkcs7", "pkcs7:" + k.cert, []string{"--key", k.rsaPriv, "--dec-recipient", "pkcs7:" + k.cert}, "pkcs7"},
	}
	for _, compression := range []string{"gzip", "zstd"} {
		t.Run(compression, func(t *testing.T) {
			// A registry per format: skopeo's blob-info cache would
			// otherwise reuse the other format's blobs.
			reg := startRegistry(t)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					ref := fmt.Sprintf("%s/e2e/crypt-%s:%s", reg.addr, tc.name, compression)
					if tc.name != "jwe-rsa-password" {
						skopeoEncrypt(t, layout, ref, compression, []string{tc.recipient})
					} else {
						ref = fmt.Sprintf("%s/e2e/crypt-jwe-rsa:%s", reg.addr, compression)
					}
					e := newEnv(t)
					r := e.must(append(append([]string{"pull"}, tc.args...), ref)...)
					if !strings.HasPrefix(r.stdout, "sha256:") {
						t.Errorf("pull output %q", r.stdout)
					}
					rec := e.cryptRecord(ref)
					if !rec.Encrypted || strings.Join(rec.EncryptionSchemes, ",") != tc.scheme {
						t.Errorf("record: encrypted %v, schemes %v", rec.Encrypted, rec.EncryptionSchemes)
					}
					for _, l := range rec.Layers {
						if !strings.HasSuffix(l.MediaType, "+"+compression+"+encrypted") {
							t.Errorf("layer %s: media type %s", l.Digest, l.MediaType)
						}
						// The content store keeps the ciphertext, as pulled.
						blob := filepath.Join(e.root, "content", "blobs", "sha256", strings.TrimPrefix(l.Digest, "sha256:"))
						if b, err := os.ReadFile(blob); err != nil || digest.FromBytes(b).String() != l.Digest {
							t.Errorf("layer %s is not stored as pulled: %v", l.Digest, err)
						}
					}
					checkCryptRootfs(t, e, ref)
					if out := e.must("images").stdout; !strings.Contains(out, "(encrypted)") {
						t.Errorf("images does not mark the image encrypted:\n%s", out)
					}
				})
			}
		})
	}
}

// TestCryptPushEncrypted pushes with --encrypt and --compression zstd,
// has skopeo decrypt the result, and pulls it back with the key.
func TestCryptPushEncrypted(t *testing.T) {
	need(t, "zstd")
	k := keys(t)
	reg := startRegistry(t)
	src := reg.addr + "/e2e/plain:1"
	pushLayout(t, cryptLayout(t), src, "gzip")
	e := newEnv(t)
	e.must("pull", src)

	dst := reg.addr + "/e2e/pushed:enc"
	e.must("push", "--encrypt", "jwe:"+k.rsaPub, "--compression", "zstd", src, dst)
	var m ocispec.Manifest
	raw := sh(t, "skopeo", "inspect", "--raw", "--tls-verify=false", "docker://"+dst)
	if err := json.Unmarshal([]byte(raw), &m); err != nil || len(m.Layers) != 2 {
		t.Fatalf("pushed manifest: %v %s", err, raw)
	}
	for _, l := range m.Layers {
		if l.MediaType != ocispec.MediaTypeImageLayerZstd+"+encrypted" || l.Annotations["org.opencontainers.image.enc.keys.jwe"] == "" {
			t.Errorf("pushed layer %s: %s %v", l.Digest, l.MediaType, l.Annotations)
		}
	}

	// skopeo decrypts it with the private key; the system's zstd and tar
	// unpack the layers.
	out := filepath.Join(t.TempDir(), "out")
	sh(t, "skopeo", "copy", "-q", "--src-tls-verify=false", "--decryption-key", k.rsaPriv, "docker://"+dst, "oci:"+out+":t")
	var idx ocispec.Index
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(out, "index.json"))), &idx); err != nil || len(idx.Manifests) != 1 {
		t.Fatalf("skopeo's layout: %v", err)
	}
	blob := func(d digest.Digest) string { return filepath.Join(out, "blobs", "sha256", d.Encoded()) }
	var dm ocispec.Manifest
	if err := json.Unmarshal([]byte(readFile(t, blob(idx.Manifests[0].Digest))), &dm); err != nil || len(dm.Layers) != 2 {
		t.Fatalf("decrypted manifest: %v", err)
	}
	root := filepath.Join(t.TempDir(), "root")
	os.Mkdir(root, 0o755)
	for _, l := range dm.Layers {
		if l.MediaType != ocispec.MediaTypeImageLayerZstd {
			t.Errorf("skopeo decrypted layer %s to %s", l.Digest, l.MediaType)
		}
		sh(t, "sh", "-c", `zstd -dc "$1" | tar -x -C "$2"`, "sh", blob(l.Digest), root)
	}
	if got := readFile(t, filepath.Join(root, "etc/secret")); got != "s3cr3t\n" {
		t.Errorf("etc/secret after skopeo's decryption: %q", got)
	}
	if got := readFile(t, filepath.Join(root, "etc/motd")); got != "top\n" {
		t.Errorf("etc/motd after skopeo's decryption: %q", got)
	}

	// Stockade pulls it back with the key, into a fresh store.
	e2 := newEnv(t)
	e2.must("pull", "--key", k.rsaPriv, dst)
	checkCryptRootfs(t, e2, dst)
	if a, b := e2.cryptRecord(dst), e.cryptRecord(src); a.ID != b.ID || strings.Join(a.ChainIDs, ",") != strings.Join(b.ChainIDs, ",") {
		t.Errorf("pulled back %s %v, pushed %s %v", a.ID, a.ChainIDs, b.ID, b.ChainIDs)
	}

	// --layer -1 encrypts the top layer only.
	top := reg.addr + "/e2e/pushed:top"
	e.must("push", "--encrypt", "jwe:"+k.ecPub, "--layer", "-1", src, top)
	raw = sh(t, "skopeo", "inspect", "--raw", "--tls-verify=false", "docker://"+top)
	if err := json.Unmarshal([]byte(raw), &m); err != nil || len(m.Layers) != 2 {
		t.Fatalf("pushed manifest: %v %s", err, raw)
	}
	if strings.HasSuffix(m.Layers[0].MediaType, "+encrypted") || m.Layers[1].MediaType != ocispec.MediaTypeImageLayerGzip+"+encrypted" {
		t.Errorf("--layer -1: layers %s, %s", m.Layers[0].MediaType, m.Layers[1].MediaType)
	}
	e3 := newEnv(t)
	e3.must("pull", "--key", k.ecPriv, top)
	checkCryptRootfs(t, e3, top)

	// Bad recipients and layers are refused before anything is pushed.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--encrypt", "jwe:" + k.rsaPriv}, "is a private key; encrypt for the public key"},
		{[]string{"--encrypt", "rot13:x"}, `unknown scheme "rot13"`},
		{[]string{"--encrypt", "jwe:" + k.rsaPub, "--layer", "2"}, "there is no layer 2: the image has 2 layers"},
		{[]string{"--layer", "0"}, "--layer chooses the layers to encrypt: it needs --encrypt"},
	} {
		r := e.run(append(append([]string{"push"}, tc.args...), src, reg.addr+"/e2e/refused:1")...)
		if r.code != 125 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("push %v: %s", tc.args, r)
		}
	}
}

// TestCryptKeysDir pulls with the keys of decryption_keys_path, set in the
// configuration file, and no --key.
func TestCryptKeysDir(t *testing.T) {
	k := keys(t)
	reg := startRegistry(t)
	ref := reg.addr + "/e2e/keysdir:1"
	skopeoEncrypt(t, cryptLayout(t), ref, "gzip", []string{"jwe:" + k.ecPub, "pkcs7:" + k.cert})
	e := newEnv(t)
	dir := filepath.Join(e.dir, "keys")
	os.MkdirAll(filepath.Join(dir, "sub"), 0o700)
	for src, dst := range map[string]string{k.other: "a-other.pem", k.ecPriv: "sub/ec.pem", k.otherPub: "z-public.pem"} {
		if err := os.WriteFile(filepath.Join(dir, dst), []byte(readFile(t, src)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "README"), []byte("keys for stockade\n"), 0o600)
	e.writeConfig(fmt.Sprintf("decryption_keys_path = %q\n", dir))
	e.must("pull", ref)
	checkCryptRootfs(t, e, ref)

	// The PKCS7 recipient's key in the directory, its certificate given.
	e2 := newEnv(t)
	dir2 := filepath.Join(e2.dir, "keys")
	os.MkdirAll(dir2, 0o700)
	os.WriteFile(filepath.Join(dir2, "rsa.pem"), []byte(readFile(t, k.rsaPriv)), 0o600)
	e2.writeConfig(fmt.Sprintf("decryption_keys_path = %q\n", dir2))
	e2.must("pull", "--dec-recipient", "pkcs7:"+k.cert, ref)
	checkCryptRootfs(t, e2, ref)
}

// TestCryptKeyProvider encrypts for, and decrypts with, a command key
// provider configured by OCICRYPT_KEYPROVIDER_CONFIG.
func TestCryptKeyProvider(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "keyprovider")
	build := exec.Command("go", "build", "-o", bin, "../../crypt/testdata/keyprovider")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the key provider: %v: %s", err, out)
	}
	keyFile, logFile, conf := filepath.Join(dir, "wrap.key"), filepath.Join(dir, "calls.log"), filepath.Join(dir, "keyprovider.json")
	if err := os.WriteFile(keyFile, bytes.Repeat([]byte{42}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]any{"key-providers": map[string]any{
		"e2eprov": map[string]any{"cmd": map[string]any{"path": bin, "args": []string{"-key", keyFile, "-log", logFile}}},
	}})
	if err := os.WriteFile(conf, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OCICRYPT_KEYPROVIDER_CONFIG", conf)

	reg := startRegistry(t)
	src := reg.addr + "/e2e/plain:1"
	pushLayout(t, cryptLayout(t), src, "")
	e := newEnv(t)
	e.must("pull", src)
	dst := reg.addr + "/e2e/provider:1"
	e.must("push", "--encrypt", "provider:e2eprov", "--compression", "zstd", src, dst)
	raw := sh(t, "skopeo", "inspect", "--raw", "--tls-verify=false", "docker://"+dst)
	if !strings.Contains(raw, "org.opencontainers.image.enc.keys.provider.e2eprov") || !strings.Contains(raw, "tar+zstd+encrypted") {
		t.Fatalf("pushed manifest: %s", raw)
	}

	e2 := newEnv(t)
	e2.must("pull", dst)
	checkCryptRootfs(t, e2, dst)
	if rec := e2.cryptRecord(dst); strings.Join(rec.EncryptionSchemes, ",") != "provider.e2eprov" {
		t.Errorf("schemes %v", rec.EncryptionSchemes)
	}
	calls := readFile(t, logFile)
	if strings.Count(calls, "keywrap") != 2 || strings.Count(calls, "keyunwrap") != 2 {
		t.Errorf("provider calls:\n%s", calls)
	}

	// Without the configuration, the provider's layers cannot be opened.
	t.Setenv("OCICRYPT_KEYPROVIDER_CONFIG", "")
	e3 := newEnv(t)
	r := e3.run("pull", dst)
	if r.code != 125 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "key provider e2eprov is not configured (OCICRYPT_KEYPROVIDER_CONFIG)") {
		t.Errorf("pull without the provider: %s", r)
	}
	if out := e3.must("images", "-q").stdout; out != "" {
		t.Errorf("images left: %q", out)
	}
}

// TestCryptImageCommands runs image encrypt, layerinfo and decrypt on the
// local store.
func TestCryptImageCommands(t *testing.T) {
	k := keys(t)
	reg := startRegistry(t)
	src := reg.addr + "/e2e/plain:1"
	pushLayout(t, cryptLayout(t), src, "zstd")
	e := newEnv(t)
	e.must("pull", src)
	plain := e.cryptRecord(src)

	r := e.must("image", "encrypt", "--recipient", "jwe:"+k.rsaPub, "--recipient", "pkcs7:"+k.cert, src, "local/enc:1")
	if f := strings.Fields(r.stdout); len(f) != 2 || f[0] != plain.ID {
		t.Errorf("image encrypt output %q", r.stdout)
	}
	enc := e.cryptRecord("local/enc:1")
	if !enc.Encrypted || strings.Join(enc.EncryptionSchemes, ",") != "jwe,pkcs7" {
		t.Errorf("encrypted record: %v %v", enc.Encrypted, enc.EncryptionSchemes)
	}
	type info struct {
		Index     int      `json:"index"`
		Digest    string   `json:"digest"`
		MediaType string   `json:"mediaType"`
		Size      int64    `json:"size"`
		Encrypted bool     `json:"encrypted"`
		Schemes   []string `json:"schemes"`
	}
	var infos []info
	if err := json.Unmarshal([]byte(e.must("image", "layerinfo", "--format", "json", "local/enc:1").stdout), &infos); err != nil || len(infos) != 2 {
		t.Fatalf("layerinfo: %v", err)
	}
	for i, in := range infos {
		if in.Index != i || !in.Encrypted || strings.Join(in.Schemes, ",") != "jwe,pkcs7" || in.Digest != enc.Layers[i].Digest ||
			in.MediaType != ocispec.MediaTypeImageLayerZstd+"+encrypted" || in.Size <= 0 {
			t.Errorf("layerinfo %d: %+v", i, in)
		}
	}
	table := e.must("image", "layerinfo", "local/enc:1").stdout
	if !strings.Contains(table, "ENCRYPTED") || strings.Count(table, "jwe, pkcs7") != 2 {
		t.Errorf("layerinfo table:\n%s", table)
	}
	if table := e.must("image", "layerinfo", src).stdout; strings.Count(table, " no ") != 2 {
		t.Errorf("layerinfo of the plain image:\n%s", table)
	}

	// Decrypt: with the wrong key, refused; with the right one, the
	// blobs are the original ones and the layers are shared.
	r = e.run("image", "decrypt", "--key", k.other, "local/enc:1", "local/dec:1")
	if r.code != 125 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "layer "+enc.Layers[0].Digest+": encrypted for jwe, pkcs7;") {
		t.Errorf("decrypt with the wrong key: %s", r)
	}
	if out := e.must("images").stdout; strings.Contains(out, "local/dec") {
		t.Errorf("a failed decrypt left a record: %q", out)
	}
	e.must("image", "decrypt", "--key", k.rsaPriv, "local/enc:1", "local/dec:1")
	dec := e.cryptRecord("local/dec:1")
	if dec.Encrypted {
		t.Error("decrypted image is encrypted")
	}
	for i := range plain.Layers {
		if dec.Layers[i].Digest != plain.Layers[i].Digest {
			t.Errorf("layer %d: decrypted to %s, was %s", i, dec.Layers[i].Digest, plain.Layers[i].Digest)
		}
	}
	for _, rec := range []cryptRecord{enc, dec} {
		if rec.ID != plain.ID || strings.Join(rec.ChainIDs, ",") != strings.Join(plain.ChainIDs, ",") {
			t.Errorf("%s: id %s chains %v, want %s %v", rec.Name, rec.ID, rec.ChainIDs, plain.ID, plain.ChainIDs)
		}
	}
	// Only the top layer, then push the encrypted copy and pull it back.
	e.must("image", "encrypt", "--recipient", "jwe:"+k.ecPub, "--layer", "1", "local/dec:1", "local/top:1")
	var topInfo []info
	json.Unmarshal([]byte(e.must("image", "layerinfo", "--format", "json", "local/top:1").stdout), &topInfo)
	if len(topInfo) != 2 || topInfo[0].Encrypted || !topInfo[1].Encrypted {
		t.Errorf("--layer 1: %+v", topInfo)
	}
	e.must("rmi", src, "local/dec:1")
	checkCryptRootfs(t, e, "local/top:1")
	unmountUnder(e.dir)
	dst := reg.addr + "/e2e/local-enc:1"
	e.must("push", "local/enc:1", dst)
	e2 := newEnv(t)
	e2.must("pull", "--key", k.rsaPriv, dst)
	checkCryptRootfs(t, e2, dst)
}

// registryManifest gets an OCI manifest from a docker-registry.
func registryManifest(t *testing.T, addr, repo, ref string) ocispec.Manifest {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v2/"+repo+"/manifests/"+ref, nil)
	req.Header.Set("Accept", ocispec.MediaTypeImageManifest)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m ocispec.Manifest
	ct := resp.Header.Get("Content-Type")
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != http.StatusOK || ct != ocispec.MediaTypeImageManifest {
		t.Fatalf("get manifest %s:%s: %v %s %s", repo, ref, err, resp.Status, ct)
	}
	m.MediaType = ct
	return m
}

// putRegistryManifest stores m as repo:tag.
func putRegistryManifest(t *testing.T, addr, repo, tag string, m ocispec.Manifest) {
	t.Helper()
	data, _ := json.Marshal(m)
	req, _ := http.NewRequest(http.MethodPut, "http://"+addr+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(data))
	req.Header.Set("Content-Type", ocispec.MediaTypeImageManifest)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("put manifest %s:%s: %s %s", repo, tag, resp.Status, body)
	}
}

// registryBlob reads a blob, and uploadRegistryBlob stores one.
func registryBlob(t *testing.T, addr, repo string, d digest.Digest) []byte {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/v2/" + repo + "/blobs/" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("get blob %s: %v %s", d, err, resp.Status)
	}
	return b
}

func uploadRegistryBlob(t *testing.T, addr, repo string, data []byte) digest.Digest {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload: %v %s", err, resp.Status)
	}
	u := (&url.URL{Scheme: "http", Host: addr}).ResolveReference(loc)
	d := digest.FromBytes(data)
	q := u.Query()
	q.Set("digest", d.String())
	u.RawQuery = q.Encode()
	req, _ := http.NewRequest(http.MethodPut, u.String(), bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload blob: %s %s", resp.Status, body)
	}
	return d
}

// TestCryptRefusals checks every way a pull of an encrypted image is
// refused: exit 125, one line naming the layer, and no image left.
func TestCryptRefusals(t *testing.T) {
	k := keys(t)
	reg := startRegistry(t)
	layout := cryptLayout(t)
	const repo = "e2e/refused"
	ref := func(tag string) string { return reg.addr + "/" + repo + ":" + tag }
	skopeoEncrypt(t, layout, ref("jwe"), "gzip", []string{"jwe:" + k.rsaPub})
	skopeoEncrypt(t, layout, ref("pkcs7"), "gzip", []string{"pkcs7:" + k.cert})
	m := registryManifest(t, reg.addr, repo, "jwe")
	base, top := m.Layers[0].Digest.String(), m.Layers[1].Digest.String()

	// The top layer's wrapped key replaced by garbage.
	corrupt := m
	corrupt.Layers = append([]ocispec.Descriptor(nil), m.Layers...)
	corrupt.Layers[1].Annotations = map[string]string{}
	for key, v := range m.Layers[1].Annotations {
		corrupt.Layers[1].Annotations[key] = v
	}
	corrupt.Layers[1].Annotations["org.opencontainers.image.enc.keys.jwe"] = "bm90IGEgSldF" // "not a JWE"
	putRegistryManifest(t, reg.addr, repo, "corrupt", corrupt)

	// The top layer's ciphertext with one bit flipped, under its new
	// digest: the download verifies, the HMAC does not.
	ct := registryBlob(t, reg.addr, repo, m.Layers[1].Digest)
	ct[len(ct)/2] ^= 0x01
	tampered := m
	tampered.Layers = append([]ocispec.Descriptor(nil), m.Layers...)
	tampered.Layers[1].Digest = uploadRegistryBlob(t, reg.addr, repo, ct)
	putRegistryManifest(t, reg.addr, repo, "tampered", tampered)

	pk := registryManifest(t, reg.addr, repo, "pkcs7")
	missing := filepath.Join(t.TempDir(), "no-such-keys")
	cases := []struct {
		name   string
		config string
		args   []string
		layer  string
		want   string
	}{
		{"no key", "", []string{ref("jwe")}, base,
			"encrypted for jwe; no decryption keys: no --key given and /etc/stockade/keys "},
		{"wrong key", "", []string{"--key", k.other, ref("jwe")}, base,
			"encrypted for jwe; the only key (from --key) does not open it"},
		{"wrong keys from flag and dir", "keysdir", []string{"--key", k.ecPriv, ref("jwe")}, base,
			"encrypted for jwe; none of the 2 keys (1 from --key, 1 in "},
		{"pkcs7 without its certificate", "", []string{"--key", k.rsaPriv, ref("pkcs7")}, pk.Layers[0].Digest.String(),
			"encrypted for pkcs7; the only key (from --key) does not open it (it needs an RSA private key and its certificate (--dec-recipient pkcs7:CERT))"},
		{"corrupt wrapped key", "", []string{"--key", k.rsaPriv, ref("corrupt")}, top,
			"wrapped key is corrupt (annotation org.opencontainers.image.enc.keys.jwe: not a JWE)"},
		{"tampered ciphertext", "", []string{"--key", k.rsaPriv, ref("tampered")}, tampered.Layers[1].Digest.String(),
			"ciphertext fails authentication (HMAC mismatch at end of stream)"},
		{"configured keys dir missing", "missing", []string{"--key", k.rsaPriv, ref("jwe")}, base,
			"decryption_keys_path " + missing + ": does not exist"},
		{"bad --key", "", []string{"--key", filepath.Join(k.dir, "nope.pem"), ref("jwe")}, "",
			"--key " + filepath.Join(k.dir, "nope.pem") + ": no such file or directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			switch tc.config {
			case "keysdir":
				dir := filepath.Join(e.dir, "keys")
				os.Mkdir(dir, 0o700)
				os.WriteFile(filepath.Join(dir, "other.pem"), []byte(readFile(t, k.other)), 0o600)
				e.writeConfig(fmt.Sprintf("decryption_keys_path = %q\n", dir))
			case "missing":
				e.writeConfig(fmt.Sprintf("decryption_keys_path = %q\n", missing))
			}
			r := e.run(append([]string{"pull"}, tc.args...)...)
			t.Log(strings.TrimSpace(r.stderr))
			if r.code != 125 {
				t.Errorf("exit %d, want 125", r.code)
			}
			if strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr must be one line saying %q: %q", tc.want, r.stderr)
			}
			if tc.layer != "" && (!strings.Contains(r.stderr, "layer "+tc.layer+": ") || strings.Count(r.stderr, tc.layer) != 1) {
				t.Errorf("stderr must name layer %s once: %q", tc.layer, r.stderr)
			}
			if out := e.must("images", "-q").stdout; out != "" {
				t.Errorf("images left: %q", out)
			}
			// No layer snapshot either (the base of "tampered" was
			// unpacked, then removed).
			if entries, _ := filepath.Glob(filepath.Join(e.root, "snapshots", "overlay", "snapshots", "*")); len(entries) != 0 {
				t.Errorf("snapshots left: %v", entries)
			}
		})
	}
}

// TestCryptRun runs an encrypted image that is not there yet: run pulls it
// with --key, and refuses without.
func TestCryptRun(t *testing.T) {
	k := keys(t)
	reg := startRegistry(t)
	ctrImage(t, reg)
	ref := reg.addr + "/e2e/ctr:encrypted"
	skopeoEncrypt(t, ctrLayout, ref, "zstd", []string{"jwe:" + k.rsaPub})
	e := newEnv(t)
	r := e.run("run", "--rm", ref, "echo", "no key")
	if r.code != 125 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "encrypted for jwe; no decryption keys") {
		t.Errorf("run without a key: %s", r)
	}
	if out := e.must("images", "-q").stdout; out != "" {
		t.Errorf("images left: %q", out)
	}
	r = e.must("run", "--rm", "--key", k.rsaPriv, ref, "echo", "decrypted")
	if r.stdout != "decrypted\n" {
		t.Errorf("run --key: %s", r)
	}
	if rec := e.cryptRecord(ref); !rec.Encrypted {
		t.Error("the image run pulled is not marked encrypted")
	}
}
