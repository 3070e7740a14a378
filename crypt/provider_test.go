package crypt

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	providerOnce sync.Once
	providerBin  string
	providerErr  error
)

// buildProvider builds testdata/keyprovider once.
func buildProvider(t testing.TB) string {
	t.Helper()
	providerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "stockade-keyprovider-")
		if err != nil {
			providerErr = err
			return
		}
		providerBin = filepath.Join(dir, "keyprovider")
		cmd := exec.Command("go", "build", "-o", providerBin, "./testdata/keyprovider")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			providerErr = errors.New("go build ./testdata/keyprovider: " + err.Error() + "\n" + string(out))
		}
	})
	if providerErr != nil {
		t.Fatal(providerErr)
	}
	return providerBin
}

// setupProvider writes a 32-byte wrapping key and an ocicrypt keyprovider
// config naming the provider "testprov", and points
// OCICRYPT_KEYPROVIDER_CONFIG at it. It returns the config path and the
// provider's log.
func setupProvider(t *testing.T, key []byte) (conf, log string) {
	t.Helper()
	bin := buildProvider(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "wrap.key")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	log = filepath.Join(dir, "calls.log")
	conf = filepath.Join(dir, "ocicrypt-keyprovider.json")
	writeJSON(t, conf, map[string]any{"key-providers": map[string]any{
		"testprov": map[string]any{"cmd": map[string]any{"path": bin, "args": []string{"-key", keyFile, "-log", log}}},
	}})
	t.Setenv("OCICRYPT_KEYPROVIDER_CONFIG", conf)
	return conf, log
}

func calls(t *testing.T, log string) string {
	b, err := os.ReadFile(log)
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestKeyProvider encrypts and decrypts through a command key provider
// configured with OCICRYPT_KEYPROVIDER_CONFIG.
func TestKeyProvider(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	_, log := setupProvider(t, key)
	l := newLayer(t, "zstd", 100_000)

	// Ours to ours.
	ct, desc := encryptHere(t, l, "provider:testprov")
	if info := LayerInfo(desc); strings.Join(info.Schemes, ",") != "provider.testprov" {
		t.Fatalf("schemes %v", info.Schemes)
	}
	d := mustKeys(t, nil, nil, "", false)
	if strings.Join(d.KeyProviders(), ",") != "testprov" {
		t.Fatalf("providers %v", d.KeyProviders())
	}
	got, err := decryptAll(d, desc, ct)
	if err != nil || !bytes.Equal(got, l.blob) {
		t.Fatalf("decrypt: %v", err)
	}
	if c := calls(t, log); strings.Count(c, "keywrap") != 1 || strings.Count(c, "keyunwrap") != 1 {
		t.Errorf("provider calls:\n%s", c)
	}

	// --key provider:NAME is accepted too.
	if _, err := decryptAll(mustKeys(t, []string{"provider:testprov"}, nil, "", false), desc, ct); err != nil {
		t.Fatal(err)
	}

	// (Debian 12's skopeo 1.9 is built with an ocicrypt that predates key
	// providers, so it cannot take part here.)
}

// TestKeyProviderRefusals: a provider holding another key, a provider
// that is not configured, a broken configuration.
func TestKeyProviderRefusals(t *testing.T) {
	setupProvider(t, bytes.Repeat([]byte{1}, 32))
	l := newLayer(t, "gzip", 5000)
	ct, desc := encryptHere(t, l, "provider:testprov")
	D := string(desc.Digest)

	// The provider now holds another key.
	setupProvider(t, bytes.Repeat([]byte{2}, 32))
	_, err := decryptAll(mustKeys(t, nil, nil, "", false), desc, ct)
	want := "layer " + D + ": encrypted for provider.testprov; key provider testprov does not open it; ocicrypt: "
	if !strings.HasPrefix(errText(err), want) || !strings.Contains(errText(err), "keyprovider: wrapped for key") || !errors.Is(err, ErrWrongKey) {
		t.Errorf("wrong provider key:\n got %s\nwant %s...", errText(err), want)
	}
	_, err = decryptAll(mustKeys(t, []string{fx.rsaPKCS8}, nil, "", false), desc, ct)
	want = "layer " + D + ": encrypted for provider.testprov; neither the only key (from --key) nor key provider testprov opens it; ocicrypt: "
	if !strings.HasPrefix(errText(err), want) {
		t.Errorf("wrong provider key and a key:\n got %s\nwant %s...", errText(err), want)
	}

	// No provider configured.
	t.Setenv("OCICRYPT_KEYPROVIDER_CONFIG", "")
	_, err = decryptAll(mustKeys(t, nil, nil, "", false), desc, ct)
	want = "layer " + D + ": encrypted for provider.testprov; no decryption keys: no --key given and no decryption_keys_path; key provider testprov is not configured (OCICRYPT_KEYPROVIDER_CONFIG)"
	if errText(err) != want || !errors.Is(err, ErrNoKeys) {
		t.Errorf("no provider:\n got %s\nwant %s", errText(err), want)
	}
	_, err = decryptAll(mustKeys(t, []string{fx.rsaPKCS8}, nil, "", false), desc, ct)
	want = "layer " + D + ": encrypted for provider.testprov; the only key (from --key) does not open it (it needs key provider testprov); key provider testprov is not configured (OCICRYPT_KEYPROVIDER_CONFIG)"
	if errText(err) != want || !errors.Is(err, ErrWrongKey) {
		t.Errorf("no provider, a key:\n got %s\nwant %s", errText(err), want)
	}
	if _, err := ParseRecipients([]string{"provider:testprov"}); errText(err) != `--encrypt provider:testprov: key provider "testprov" is not configured (OCICRYPT_KEYPROVIDER_CONFIG)` {
		t.Errorf("ParseRecipients: %v", err)
	}

	// Broken configurations.
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.json")
	t.Setenv("OCICRYPT_KEYPROVIDER_CONFIG", missing)
	if _, err := ParseKeys(nil, nil, "", false); errText(err) != "OCICRYPT_KEYPROVIDER_CONFIG: stat "+missing+": no such file or directory" {
		t.Errorf("missing config: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{not json"), 0o600)
	t.Setenv("OCICRYPT_KEYPROVIDER_CONFIG", bad)
	if _, err := ParseKeys(nil, nil, "", false); errText(err) != "OCICRYPT_KEYPROVIDER_CONFIG="+bad+": invalid character 'n' looking for beginning of object key string" {
		t.Errorf("bad config: %v", err)
	}
	empty := filepath.Join(dir, "empty.json")
	writeJSON(t, empty, map[string]any{"key-providers": map[string]any{"x": map[string]any{}}})
	t.Setenv("OCICRYPT_KEYPROVIDER_CONFIG", empty)
	if _, err := ParseKeys(nil, nil, "", false); errText(err) != "OCICRYPT_KEYPROVIDER_CONFIG="+empty+": key provider \"x\" has neither cmd.path nor grpc" {
		t.Errorf("empty provider: %v", err)
	}
}
