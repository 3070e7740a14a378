package crypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des" //nolint:gosec // 3DES-CBC is still found in old PKCS#8 files; it is only read.
	"crypto/pbkdf2"
	"crypto/sha1" //nolint:gosec // PBKDF2's default PRF in PKCS#5.
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"

	"golang.org/x/crypto/scrypt"
)

// Password-protected PKCS#8 ("ENCRYPTED PRIVATE KEY", what OpenSSL 3
// writes for `openssl genpkey -aes256` and `openssl pkcs8 -topk8`). Go's
// x509 package and ocicrypt only read the legacy "Proc-Type: 4,ENCRYPTED"
// PEM, so stockade decrypts PKCS#5 v2 (PBES2) itself: PBKDF2 (HMAC-SHA1,
// -SHA224, -SHA256, -SHA384, -SHA512) or scrypt, with AES-CBC or 3DES-CBC.

var (
	oidPBES2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidScrypt     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}
	oidHMACSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA224 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 8}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA384 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACSHA512 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
)

type algorithmIdentifier struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

type encryptedPrivateKeyInfo struct {
	Algorithm     algorithmIdentifier
	EncryptedData []byte
}

type pbes2Params struct {
	KeyDerivationFunc algorithmIdentifier
	EncryptionScheme  algorithmIdentifier
}

type pbkdf2Params struct {
	Salt           []byte
	IterationCount int
	KeyLength      int                 `asn1:"optional"`
	PRF            algorithmIdentifier `asn1:"optional"`
}

type scryptParams struct {
	Salt                     []byte
	CostParameter            int
	BlockSize                int
	ParallelizationParameter int
	KeyLength                int `asn1:"optional"`
}

// errWrongPassword is returned when a password does not decrypt a key.
var errWrongPassword = errors.New("wrong password")

// Bounds on the work a hostile key file can ask for.
const (
	maxPBKDF2Iterations = 2_000_000
	maxScryptNr         = 1 << 20 // scrypt needs 128·N·r bytes: at most 128 MiB
)

// decryptPKCS8 decrypts the DER of an EncryptedPrivateKeyInfo and returns
// the DER of the PrivateKeyInfo inside. A password that does not fit
// gives errWrongPassword.
func decryptPKCS8(der, password []byte) ([]byte, error) {
	var epki encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &epki); err != nil || len(rest) != 0 {
		return nil, errors.New("malformed encrypted PKCS#8")
	}
	if !epki.Algorithm.Algorithm.Equal(oidPBES2) {
		return nil, fmt.Errorf("encrypted PKCS#8 with %v is not supported (only PBES2)", epki.Algorithm.Algorithm)
	}
	var params pbes2Params
	if _, err := asn1.Unmarshal(epki.Algorithm.Parameters.FullBytes, &params); err != nil {
		return nil, errors.New("malformed PBES2 parameters")
	}

	var (
		keyLen int
		newCBC func(key, iv []byte) (cipher.BlockMode, error)
	)
	enc := params.EncryptionScheme
	switch {
	case enc.Algorithm.Equal(oidAES128CBC):
		keyLen = 16
	case enc.Algorithm.Equal(oidAES192CBC):
		keyLen = 24
	case enc.Algorithm.Equal(oidAES256CBC):
		keyLen = 32
	case enc.Algorithm.Equal(oidDESEDE3CBC):
		keyLen = 24
	default:
		return nil, fmt.Errorf("PKCS#8 cipher %v is not supported", enc.Algorithm)
	}
	if enc.Algorithm.Equal(oidDESEDE3CBC) {
		newCBC = func(key, iv []byte) (cipher.BlockMode, error) {
			b, err := des.NewTripleDESCipher(key)
			if err != nil || len(iv) != b.BlockSize() {
				return nil, errors.New("bad 3DES key or IV")
			}
			return cipher.NewCBCDecrypter(b, iv), nil
		}
	} else {
		newCBC = func(key, iv []byte) (cipher.BlockMode, error) {
			b, err := aes.NewCipher(key)
			if err != nil || len(iv) != b.BlockSize() {
				return nil, errors.New("bad AES key or IV")
			}
			return cipher.NewCBCDecrypter(b, iv), nil
		}
	}
	var iv []byte
	if _, err := asn1.Unmarshal(enc.Parameters.FullBytes, &iv); err != nil {
		return nil, errors.New("malformed PKCS#8 cipher IV")
	}

	var key []byte
	kdf := params.KeyDerivationFunc
	switch {
	case kdf.Algorithm.Equal(oidPBKDF2):
		var p pbkdf2Params
		if _, err := asn1.Unmarshal(kdf.Parameters.FullBytes, &p); err != nil {
			return nil, errors.New("malformed PBKDF2 parameters")
		}
		if p.IterationCount < 1 || p.IterationCount > maxPBKDF2Iterations {
			return nil, fmt.Errorf("PBKDF2 iteration count %d out of range", p.IterationCount)
		}
		if p.KeyLength != 0 && p.KeyLength != keyLen {
			return nil, errors.New("PBKDF2 key length does not fit the cipher")
		}
		var h func() hash.Hash
		switch prf := p.PRF.Algorithm; {
		case len(prf) == 0 || prf.Equal(oidHMACSHA1):
			h = sha1.New
		case prf.Equal(oidHMACSHA224):
			h = sha256.New224
		case prf.Equal(oidHMACSHA256):
			h = sha256.New
		case prf.Equal(oidHMACSHA384):
			h = sha512.New384
		case prf.Equal(oidHMACSHA512):
			h = sha512.New
		default:
			return nil, fmt.Errorf("PBKDF2 PRF %v is not supported", prf)
		}
		k, err := pbkdf2.Key(h, string(password), p.Salt, p.IterationCount, keyLen)
		if err != nil {
			return nil, fmt.Errorf("PBKDF2: %w", err)
		}
		key = k
	case kdf.Algorithm.Equal(oidScrypt):
		var p scryptParams
		if _, err := asn1.Unmarshal(kdf.Parameters.FullBytes, &p); err != nil {
			return nil, errors.New("malformed scrypt parameters")
		}
		if p.CostParameter < 2 || p.BlockSize < 1 || p.CostParameter > maxScryptNr/p.BlockSize ||
			p.ParallelizationParameter < 1 || p.ParallelizationParameter > 16 {
			return nil, errors.New("scrypt parameters out of range")
		}
		if p.KeyLength != 0 && p.KeyLength != keyLen {
			return nil, errors.New("scrypt key length does not fit the cipher")
		}
		k, err := scrypt.Key(password, p.Salt, p.CostParameter, p.BlockSize, p.ParallelizationParameter, keyLen)
		if err != nil {
			return nil, fmt.Errorf("scrypt: %w", err)
		}
		key = k
	default:
		return nil, fmt.Errorf("PKCS#8 key derivation %v is not supported", kdf.Algorithm)
	}

	mode, err := newCBC(key, iv)
	if err != nil {
		return nil, err
	}
	data := epki.EncryptedData
	if len(data) == 0 || len(data)%mode.BlockSize() != 0 {
		return nil, errors.New("malformed PKCS#8 ciphertext")
	}
	plain := make([]byte, len(data))
	mode.CryptBlocks(plain, data)
	plain, ok := unpad(plain, mode.BlockSize())
	if !ok {
		return nil, errWrongPassword
	}
	return plain, nil
}

// unpad strips PKCS#7 padding in constant time with respect to the pad
// bytes.
func unpad(b []byte, blockSize int) ([]byte, bool) {
	n := int(b[len(b)-1])
	if n == 0 || n > blockSize || n > len(b) {
		return nil, false
	}
	want := make([]byte, n)
	for i := range want {
		want[i] = byte(n)
	}
	if subtle.ConstantTimeCompare(b[len(b)-n:], want) != 1 {
		return nil, false
	}
	return b[:len(b)-n], true
}
