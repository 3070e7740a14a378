package crypt

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
)

// gpgHome makes a GnuPG home with two keys: "plain@stockade.test" (RSA,
// no passphrase) and "locked@stockade.test" (cv25519, passphrase
// testPassword), exports their secret keys, and sets GNUPGHOME.
type gpgFixture struct {
	home                        string
	plainSec, plainSecArmored   string
	lockedSec, lockedPub, other string
}

func gpgHome(t *testing.T) gpgFixture {
	t.Helper()
	home, err := os.MkdirTemp("", "gpg") // short: gpg-agent's socket path is limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	os.Chmod(home, 0o700)
	gpg := func(stdout string, args ...string) {
		t.Helper()
		cmd := exec.Command("gpg", append([]string{"--homedir", home, "--batch", "--pinentry-mode", "loopback"}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		if stdout != "" {
			if err := os.WriteFile(stdout, out.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	fpr := func(uid string) string {
		for _, line := range strings.Split(string(runOut(t, "gpg", "--homedir", home, "--batch", "--with-colons", "--list-keys", uid)), "\n") {
			if strings.HasPrefix(line, "fpr:") {
				return strings.Split(line, ":")[9]
			}
		}
		t.Fatalf("no fingerprint for %s", uid)
		return ""
	}
	gpg("", "--passphrase", "", "--quick-gen-key", "Plain Test <plain@stockade.test>", "rsa2048", "cert", "never")
	gpg("", "--passphrase", "", "--quick-add-key", fpr("plain@stockade.test"), "rsa2048", "encr", "never")
	gpg("", "--passphrase", testPassword, "--quick-gen-key", "Locked Test <locked@stockade.test>", "ed25519", "cert", "never")
	gpg("", "--passphrase", testPassword, "--quick-add-key", fpr("locked@stockade.test"), "cv25519", "encr", "never")
	gpg("", "--passphrase", "", "--quick-gen-key", "Sign Only <signonly@stockade.test>", "ed25519", "sign", "never")
	f := gpgFixture{home: home}
	f.plainSec = filepath.Join(home, "plain.sec.gpg")
	f.plainSecArmored = filepath.Join(home, "plain.sec.asc")
	f.lockedSec = filepath.Join(home, "locked.sec.gpg")
	f.lockedPub = filepath.Join(home, "locked.pub.asc")
	gpg(f.plainSec, "--passphrase", "", "--export-secret-keys", "plain@stockade.test")
	gpg(f.plainSecArmored, "--passphrase", "", "--armor", "--export-secret-keys", "plain@stockade.test")
	gpg(f.lockedSec, "--passphrase", testPassword, "--export-secret-keys", "locked@stockade.test")
	gpg(f.lockedPub, "--armor", "--export", "locked@stockade.test")
	t.Setenv("GNUPGHOME", home)
	return f
}

func runOut(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out
}

// TestGPG encrypts for OpenPGP recipients (from gpg's keyring, as ocicrypt
// finds them, and from an exported public key file) and decrypts with
// exported secret keyrings, binary, armored and passphrase-protected.
func TestGPG(t *testing.T) {
	g := gpgHome(t)
	l := newLayer(t, "zstd", 50_000)

	cases := []struct {
		name      string
		recipient string
		keys      []string
	}{
		{"keyring recipient by e-mail, binary secret key", "pgp:plain@stockade.test", []string{g.plainSec}},
		{"keyring recipient by name, armored secret key", "pgp:Plain Test", []string{g.plainSecArmored}},
		{"public key file, passphrase-protected secret key", "pgp:" + g.lockedPub, []string{g.lockedSec + ":" + testPassword}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ct, desc := encryptHere(t, l, tc.recipient)
			info := LayerInfo(desc)
			if strings.Join(info.Schemes, ",") != "pgp" || len(info.PGPKeyIDs) != 1 {
				t.Fatalf("info %+v", info)
			}
			got, err := decryptAll(mustKeys(t, tc.keys, nil, "", false), desc, ct)
			if err != nil || !bytes.Equal(got, l.blob) {
				t.Fatalf("decrypt: %v", err)
			}
		})
	}

	ct, desc := encryptHere(t, l, "pgp:locked@stockade.test")
	D := string(desc.Digest)
	for _, c := range []struct {
		keys []string
		want string
	}{
		{[]string{g.plainSec}, "layer " + D + ": encrypted for pgp; the only key (from --key) does not open it"},
		{[]string{fx.rsaPKCS8}, "layer " + D + ": encrypted for pgp; the only key (from --key) does not open it (it needs a GPG secret key)"},
	} {
		if _, err := decryptAll(mustKeys(t, c.keys, nil, "", false), desc, ct); errText(err) != c.want {
			t.Errorf("\n got %v\nwant %s", err, c.want)
		}
	}
	for _, c := range []struct{ arg, want string }{
		{g.lockedSec, "--key " + g.lockedSec + ": the key is password-protected; give the password as FILE:PASSWORD"},
		{g.lockedSec + ":nope", "--key " + g.lockedSec + ": wrong password"},
		{g.lockedPub, "--key " + g.lockedPub + ": is an OpenPGP public key; decryption needs the secret key (gpg --export-secret-keys)"},
	} {
		if _, err := ParseKeys([]string{c.arg}, nil, "", false); errText(err) != c.want {
			t.Errorf("\n got %v\nwant %s", err, c.want)
		}
	}
	if _, err := ParseRecipients([]string{"pgp:signonly@stockade.test"}); !strings.HasPrefix(errText(err), "--encrypt pgp:signonly@stockade.test: OpenPGP key 0x") ||
		!strings.HasSuffix(errText(err), " (signonly@stockade.test) has no valid encryption key") {
		t.Errorf("sign-only recipient: %v", err)
	}
	if _, err := ParseRecipients([]string{"pgp:nobody@stockade.test"}); errText(err) != `--encrypt pgp:nobody@stockade.test: no OpenPGP key for "nobody@stockade.test" in gpg's public keyring` {
		t.Errorf("unknown recipient: %v", err)
	}

	// skopeo decrypts our pgp layer with the exported secret key.
	tmp := t.TempDir()
	enc, dec := filepath.Join(tmp, "enc"), filepath.Join(tmp, "dec")
	pct, pdesc := encryptHere(t, l, "pgp:plain@stockade.test")
	writeLayout(t, enc, pdesc, pct, digest.FromBytes(l.tar))
	skopeo(t, nil, "copy", "--decryption-key", g.plainSec, "oci:"+enc+":v1", "oci:"+dec+":v1")
	if _, blob, _ := readLayout(t, dec); !bytes.Equal(blob, l.blob) {
		t.Error("skopeo's plaintext differs")
	}
}
