package crypt

import (
	"os"
	"testing"
)

// FuzzParseKeyData feeds the key file parser arbitrary bytes: it must
// return keys or an error, never panic.
func FuzzParseKeyData(f *testing.F) {
	for _, p := range []string{fx.rsaPKCS8, fx.rsaDER, fx.ecSEC1, fx.rsaEncPKCS8, fx.rsaEncLegacy, fx.rsaEncDER, fx.rsaJWK, fx.cert, fx.rsaPub} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, testPassword, true)
	}
	f.Add([]byte("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nxx\n-----END PGP PRIVATE KEY BLOCK-----\n"), "", false)
	f.Add([]byte("pkcs11:\n  uri: pkcs11:token=x\n"), "", false)
	f.Fuzz(func(t *testing.T, data []byte, pw string, hasPw bool) {
		keys, err := parseKeyData(data, []byte(pw), hasPw)
		if err == nil && len(keys) == 0 {
			t.Errorf("no keys and no error")
		}
	})
}
