package crypt

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/containers/ocicrypt/crypto/pkcs11"
	"github.com/go-jose/go-jose/v4"
)

// keyKind is what a key file holds.
type keyKind int

const (
	kindPrivate keyKind = iota // RSA or EC private key, kept as PKCS#8 DER
	kindGPG                    // OpenPGP secret keyring, kept binary
	kindPKCS11                 // ocicrypt PKCS#11 key file (YAML with a pkcs11: URI)
	kindCert                   // x509 certificate, kept as DER
)

// parsedKey is one key read from a file, normalised for ocicrypt.
type parsedKey struct {
	kind     keyKind
	data     []byte
	password []byte // GPG only: the passphrase ocicrypt unlocks it with
	desc     string // "RSA 2048", "EC P-256", "GPG 0x...", "PKCS#11", "x509 certificate"
}

// Reasons a file is not used as a key.
var (
	errNotAKey      = errors.New("not a key: expected a PEM or DER private key (PKCS#1, PKCS#8, EC), a JWK, a GPG secret keyring, an ocicrypt PKCS#11 key file or an x509 certificate")
	errPublicKey    = errors.New("is a public key; decryption needs the private key")
	errNeedPassword = errors.New("the key is password-protected; give the password as FILE:PASSWORD")
	errTooLarge     = errors.New("too large to be a key")
	errPKCS11NoCgo  = errors.New("pkcs11 keys need a cgo build of stockade")
)

// maxKeyFile bounds what is read of a key file.
const maxKeyFile = 1 << 20

// readKeyFile reads a key file of at most maxKeyFile bytes.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeyFile {
		return nil, errTooLarge
	}
	return data, nil
}

// parseKeyData reads the keys and certificates in one file. password is
// used for password-protected keys; hasPassword tells a given empty
// password from none.
func parseKeyData(data, password []byte, hasPassword bool) ([]parsedKey, error) {
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) == 0:
		return nil, errNotAKey
	case bytes.Contains(data, []byte("-----BEGIN PGP ")):
		bin, err := dearmor(data)
		if err != nil {
			return nil, err
		}
		return parseGPG(bin, password, hasPassword)
	case bytes.Contains(data, []byte("-----BEGIN ")):
		return parsePEM(data, password, hasPassword)
	case trimmed[0] == '{':
		return parseJWK(trimmed)
	}
	if keys, err, ok := parseDER(data, password, hasPassword); ok {
		return keys, err
	}
	if el, err := openpgp.ReadKeyRing(bytes.NewReader(data)); err == nil && len(el) > 0 {
		return parseGPG(data, password, hasPassword)
	}
	if pkcs11.IsPkcs11PrivateKey(data) {
		if !pkcs11Supported {
			return nil, errPKCS11NoCgo
		}
		return []parsedKey{{kind: kindPKCS11, data: data, desc: "PKCS#11"}}, nil
	}
	return nil, errNotAKey
}

// dearmor decodes an ASCII-armored OpenPGP block.
func dearmor(data []byte) ([]byte, error) {
	blk, err := armor.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("bad OpenPGP armor: %w", err)
	}
	bin, err := io.ReadAll(io.LimitReader(blk.Body, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("bad OpenPGP armor: %w", err)
	}
	return bin, nil
}

// parsePEM reads every PEM block of a file: private keys (plain, legacy
// encrypted or encrypted PKCS#8) and certificates; public keys and EC
// parameters are passed over.
func parsePEM(data, password []byte, hasPassword bool) ([]parsedKey, error) {
	var (
		out        []parsedKey
		sawPublic  bool
		sawAnyPEM  bool
		rest       = data
		block      *pem.Block
		parseError error
	)
	for {
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		sawAnyPEM = true
		var (
			key any
			err error
		)
		switch block.Type {
		case "ENCRYPTED PRIVATE KEY":
			if !hasPassword {
				return nil, errNeedPassword
			}
			var plain []byte
			if plain, err = decryptPKCS8(block.Bytes, password); err == nil {
				if key, err = x509.ParsePKCS8PrivateKey(plain); err != nil {
					err = errWrongPassword
				}
			}
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY", "EC PRIVATE KEY":
			der := block.Bytes
			if x509.IsEncryptedPEMBlock(block) { //nolint:staticcheck // legacy encrypted PEM is what ocicrypt documents
				if !hasPassword {
					return nil, errNeedPassword
				}
				if der, err = x509.DecryptPEMBlock(block, password); err != nil { //nolint:staticcheck // see above
					return nil, errWrongPassword
				}
			}
			if block.Type == "RSA PRIVATE KEY" {
				key, err = x509.ParsePKCS1PrivateKey(der)
			} else {
				key, err = x509.ParseECPrivateKey(der)
			}
			if err != nil && x509.IsEncryptedPEMBlock(block) { //nolint:staticcheck // see above
				err = errWrongPassword
			}
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				out = append(out, parsedKey{kind: kindCert, data: cert.Raw, desc: "x509 certificate " + cert.Subject.String()})
				continue
			}
		case "PUBLIC KEY", "RSA PUBLIC KEY":
			sawPublic = true
			continue
		default:
			continue
		}
		if err != nil {
			if errors.Is(err, errWrongPassword) || errors.Is(err, errNeedPassword) {
				return nil, err
			}
			if parseError == nil {
				parseError = fmt.Errorf("malformed PEM %s: %w", block.Type, err)
			}
			continue
		}
		pk, err := privateKey(key)
		if err != nil {
			return nil, err
		}
		out = append(out, pk)
	}
	switch {
	case parseError != nil && !hasPrivate(out):
		return nil, parseError
	case len(out) > 0:
		return out, nil
	case sawPublic:
		return nil, errPublicKey
	case !sawAnyPEM:
		return nil, errors.New("malformed PEM")
	}
	return nil, errNotAKey
}

func hasPrivate(keys []parsedKey) bool {
	for _, k := range keys {
		if k.kind != kindCert {
			return true
		}
	}
	return false
}

// parseDER tries the binary forms: PKCS#8 (plain or encrypted), PKCS#1,
// SEC 1 EC, a certificate or a public key. ok is false when data is none
// of them.
func parseDER(data, password []byte, hasPassword bool) (keys []parsedKey, err error, ok bool) {
	if k, err := x509.ParsePKCS8PrivateKey(data); err == nil {
		pk, err := privateKey(k)
		return []parsedKey{pk}, err, true
	}
	if k, err := x509.ParsePKCS1PrivateKey(data); err == nil {
		pk, err := privateKey(k)
		return []parsedKey{pk}, err, true
	}
	if k, err := x509.ParseECPrivateKey(data); err == nil {
		pk, err := privateKey(k)
		return []parsedKey{pk}, err, true
	}
	var epki encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(data, &epki); err == nil && len(rest) == 0 && epki.Algorithm.Algorithm.Equal(oidPBES2) {
		if !hasPassword {
			return nil, errNeedPassword, true
		}
		plain, err := decryptPKCS8(data, password)
		if err != nil {
			return nil, err, true
		}
		k, err := x509.ParsePKCS8PrivateKey(plain)
		if err != nil {
			return nil, errWrongPassword, true
		}
		pk, err := privateKey(k)
		return []parsedKey{pk}, err, true
	}
	if cert, err := x509.ParseCertificate(data); err == nil {
		return []parsedKey{{kind: kindCert, data: cert.Raw, desc: "x509 certificate " + cert.Subject.String()}}, nil, true
	}
	if _, err := x509.ParsePKIXPublicKey(data); err == nil {
		return nil, errPublicKey, true
	}
	return nil, nil, false
}

// parseJWK reads a JSON Web Key.
func parseJWK(data []byte) ([]parsedKey, error) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(data); err != nil {
		return nil, errNotAKey
	}
	if jwk.IsPublic() {
		return nil, errPublicKey
	}
	pk, err := privateKey(jwk.Key)
	if err != nil {
		return nil, err
	}
	pk.desc += " (JWK)"
	return []parsedKey{pk}, nil
}

// privateKey turns an RSA or EC private key into PKCS#8 DER, the form
// every ocicrypt key wrapper reads.
func privateKey(k any) (parsedKey, error) {
	var desc string
	switch k := k.(type) {
	case *rsa.PrivateKey:
		desc = "RSA " + strconv.Itoa(k.N.BitLen())
	case *ecdsa.PrivateKey:
		desc = "EC " + k.Curve.Params().Name
	default:
		return parsedKey{}, fmt.Errorf("%T keys cannot be used with OCI-crypt (RSA or EC only)", k)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return parsedKey{}, fmt.Errorf("encode private key: %w", err)
	}
	return parsedKey{kind: kindPrivate, data: der, desc: desc}, nil
}

// parseGPG checks a binary OpenPGP keyring: it must hold a secret key,
// and password must unlock it when it is protected.
func parseGPG(bin, password []byte, hasPassword bool) ([]parsedKey, error) {
	el, err := openpgp.ReadKeyRing(bytes.NewReader(bin))
	if err != nil {
		return nil, fmt.Errorf("bad OpenPGP keyring: %w", err)
	}
	var ids []string
	secret, locked, unlocked := 0, 0, 0
	for _, e := range el {
		if e.PrimaryKey != nil {
			ids = append(ids, fmt.Sprintf("0x%X", e.PrimaryKey.KeyId))
		}
		privs := []*packet.PrivateKey{e.PrivateKey}
		for _, sk := range e.Subkeys {
			privs = append(privs, sk.PrivateKey)
		}
		for _, p := range privs {
			if p == nil || p.Dummy() {
				continue
			}
			secret++
			if !p.Encrypted {
				continue
			}
			locked++
			if hasPassword && p.Decrypt(password) == nil {
				unlocked++
			}
		}
	}
	switch {
	case secret == 0:
		return nil, errors.New("is an OpenPGP public key; decryption needs the secret key (gpg --export-secret-keys)")
	case locked > 0 && !hasPassword:
		return nil, errNeedPassword
	case locked > 0 && unlocked == 0:
		return nil, errWrongPassword
	}
	var pw []byte
	if hasPassword {
		pw = password
	}
	return []parsedKey{{kind: kindGPG, data: bin, password: pw, desc: "GPG " + strings.Join(ids, ",")}}, nil
}
