package crypt

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"net/mail"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/containers/ocicrypt"
	encconfig "github.com/containers/ocicrypt/config"
	"github.com/containers/ocicrypt/config/pkcs11config"
	"github.com/containers/ocicrypt/crypto/pkcs11"
	"github.com/go-jose/go-jose/v4"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Recipients are the parties layers are encrypted for: each can decrypt
// them with its own key. It is safe for concurrent use.
type Recipients struct {
	params    map[string][][]byte // ocicrypt's EncryptConfig parameters
	decParams map[string][][]byte // its DecryptConfig (pkcs11-config)
	list      []string
	schemes   []string
}

// ParseRecipients reads --encrypt arguments, in ocicrypt's syntax:
//
//   - jwe:FILE: an RSA or EC public key (PEM or DER PKIX, PKCS#1, a
//     public JWK, or an x509 certificate whose key is used);
//   - pkcs7:FILE: an x509 certificate with an RSA key;
//   - pgp:NAME_OR_EMAIL: an OpenPGP key of gpg's public keyring
//     ($GNUPGHOME, as ocicrypt reads it with `gpg --export`), or
//     pgp:FILE, an exported OpenPGP public key (binary or armored);
//   - pkcs11:FILE: an ocicrypt PKCS#11 key file or a public key PEM for a
//     PKCS#11 token (needs a cgo build);
//   - provider:NAME[:ARGS]: a key provider of OCICRYPT_KEYPROVIDER_CONFIG.
//
// Errors are one line naming the argument at fault.
func ParseRecipients(recipients []string) (*Recipients, error) {
	if len(recipients) == 0 {
		return nil, errors.New("no recipients to encrypt for")
	}
	providers, err := keyProviders()
	if err != nil {
		return nil, err
	}
	rc := &Recipients{params: map[string][][]byte{}, decParams: map[string][][]byte{}}
	var (
		gpgNames []string
		gpgRing  bytes.Buffer
	)
	for _, arg := range recipients {
		scheme, value, ok := strings.Cut(arg, ":")
		if !ok || value == "" {
			return nil, fmt.Errorf("--encrypt %s: expected SCHEME:VALUE (jwe:, pkcs7:, pgp:, pkcs11:, provider:)", arg)
		}
		var err error
		switch scheme {
		case "jwe":
			err = rc.addJWE(value)
		case "pkcs7":
			err = rc.addPKCS7(value)
		case "pgp":
			var names []string
			names, err = addPGP(value, &gpgRing)
			gpgNames = append(gpgNames, names...)
		case "pkcs11":
			err = rc.addPKCS11(value)
		case "provider":
			name, params, hasParams := strings.Cut(value, ":")
			if !slices.Contains(providers, name) {
				err = fmt.Errorf("key provider %q is not configured (OCICRYPT_KEYPROVIDER_CONFIG)", name)
				break
			}
			v := []byte("Enabled")
			if hasParams {
				v = []byte(params)
			}
			rc.params[name] = append(rc.params[name], v)
			scheme = "provider." + name
		default:
			err = fmt.Errorf("unknown scheme %q (jwe, pkcs7, pgp, pkcs11, provider)", scheme)
		}
		if err != nil {
			return nil, fmt.Errorf("--encrypt %s: %w", arg, err)
		}
		rc.list = append(rc.list, arg)
		if !slices.Contains(rc.schemes, scheme) {
			rc.schemes = append(rc.schemes, scheme)
		}
	}
	if len(gpgNames) > 0 {
		rc.params["gpg-recipients"] = nil
		for _, n := range gpgNames {
			rc.params["gpg-recipients"] = append(rc.params["gpg-recipients"], []byte(n))
		}
		rc.params["gpg-pubkeyringfile"] = [][]byte{gpgRing.Bytes()}
	}
	slices.Sort(rc.schemes)
	return rc, nil
}

// String lists the recipients as they were given.
func (rc *Recipients) String() string {
	if rc == nil {
		return ""
	}
	return strings.Join(rc.list, ", ")
}

// Schemes lists the key-wrap schemes the recipients use, sorted, as
// LayerInfo will report them.
func (rc *Recipients) Schemes() []string {
	if rc == nil {
		return nil
	}
	return slices.Clone(rc.schemes)
}

func (rc *Recipients) addJWE(file string) error {
	data, err := readKeyFile(file)
	if err != nil {
		return unwrapPathError(err)
	}
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(t); err != nil {
			return fmt.Errorf("bad JWK: %w", err)
		}
		if !jwk.IsPublic() {
			return errors.New("is a private JWK; encrypt for the public key")
		}
		if err := checkPublic(jwk.Key); err != nil {
			return err
		}
		if jwk.Algorithm != "" {
			// ocicrypt honours the JWK's "alg".
			rc.params["pubkeys"] = append(rc.params["pubkeys"], t)
			return nil
		}
		// Without "alg", ocicrypt would use RSA-OAEP even for an EC key:
		// give it the key as PKIX, whose type it reads.
		pkix, err := x509.MarshalPKIXPublicKey(jwk.Key)
		if err != nil {
			return fmt.Errorf("encode public key: %w", err)
		}
		rc.params["pubkeys"] = append(rc.params["pubkeys"], pkix)
		return nil
	}
	der := data
	if blk, _ := pem.Decode(data); blk != nil {
		der = blk.Bytes
		if strings.Contains(blk.Type, "PRIVATE KEY") {
			return errors.New("is a private key; encrypt for the public key")
		}
	}
	var pub any
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		pub = k
	} else if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		pub = k
	} else if c, err := x509.ParseCertificate(der); err == nil {
		pub = c.PublicKey
	} else {
		return errors.New("not a public key (PEM or DER PKIX or PKCS#1, JWK, or x509 certificate)")
	}
	if err := checkPublic(pub); err != nil {
		return err
	}
	pkix, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return fmt.Errorf("encode public key: %w", err)
	}
	rc.params["pubkeys"] = append(rc.params["pubkeys"], pkix)
	return nil
}

// checkPublic accepts the key types ocicrypt's JWE wrapper can use.
func checkPublic(k any) error {
	switch k.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
		return nil
	}
	return fmt.Errorf("%T keys cannot be used with OCI-crypt (RSA or EC only)", k)
}

func (rc *Recipients) addPKCS7(file string) error {
	data, err := readKeyFile(file)
	if err != nil {
		return unwrapPathError(err)
	}
	parsed, err := parseKeyData(data, nil, false)
	if err != nil || !onlyCerts(parsed) {
		return errors.New("not an x509 certificate")
	}
	for _, p := range parsed {
		cert, err := x509.ParseCertificate(p.data)
		if err != nil {
			return fmt.Errorf("bad certificate: %w", err)
		}
		if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
			return errors.New("pkcs7 needs a certificate with an RSA key")
		}
		rc.params["x509s"] = append(rc.params["x509s"], cert.Raw)
	}
	return nil
}

func (rc *Recipients) addPKCS11(file string) error {
	data, err := readKeyFile(file)
	if err != nil {
		return unwrapPathError(err)
	}
	if !pkcs11Supported {
		return errPKCS11NoCgo
	}
	var yamls, pubs [][]byte
	switch {
	case pkcs11.IsPkcs11PublicKey(data):
		yamls = append(yamls, data)
	default:
		blk, _ := pem.Decode(data)
		if blk == nil {
			return errors.New("not a PKCS#11 key file or public key PEM")
		}
		if _, err := x509.ParsePKIXPublicKey(blk.Bytes); err != nil {
			return errors.New("not a PKCS#11 key file or public key PEM")
		}
		pubs = append(pubs, data)
	}
	var conf *pkcs11.Pkcs11Config
	if len(yamls) > 0 {
		c, err := pkcs11config.GetUserPkcs11Config()
		if err != nil {
			return fmt.Errorf("PKCS#11 needs an ocicrypt config (OCICRYPT_CONFIG, ~/.config/ocicrypt.conf): %w", err)
		}
		conf = c
	}
	cc, err := encconfig.EncryptWithPkcs11(conf, pubs, yamls)
	if err != nil {
		return err
	}
	for k, v := range cc.EncryptConfig.Parameters {
		rc.params[k] = append(rc.params[k], v...)
	}
	for k, v := range cc.EncryptConfig.DecryptConfig.Parameters {
		rc.decParams[k] = v
	}
	return nil
}

// addPGP finds the OpenPGP public keys of a pgp: recipient, appends them
// (binary) to ring and returns the names ocicrypt will select them by.
func addPGP(value string, ring *bytes.Buffer) ([]string, error) {
	var (
		el      openpgp.EntityList
		byFile  bool
		matches func(name, email string) bool
	)
	if _, err := os.Lstat(value); err == nil {
		data, err := readKeyFile(value)
		if err != nil {
			return nil, unwrapPathError(err)
		}
		if bytes.Contains(data, []byte("-----BEGIN PGP ")) {
			if data, err = dearmor(data); err != nil {
				return nil, err
			}
		}
		if el, err = openpgp.ReadKeyRing(bytes.NewReader(data)); err != nil {
			return nil, errors.New("not an OpenPGP public key (binary or armored)")
		}
		byFile = true
		matches = func(string, string) bool { return true }
	} else {
		gc, err := ocicrypt.NewGPGClient("", "")
		if err != nil {
			return nil, fmt.Errorf("gpg is needed to find the key: %w", err)
		}
		pub, err := gc.ReadGPGPubRingFile()
		if err != nil {
			return nil, fmt.Errorf("read gpg's public keyring: %s", oneLine(err.Error()))
		}
		if el, err = openpgp.ReadKeyRing(bytes.NewReader(pub)); err != nil {
			return nil, fmt.Errorf("read gpg's public keyring: %w", err)
		}
		matches = func(name, email string) bool { return name == value || email == value }
	}
	var names []string
	for _, e := range el {
		var picked string
		for id := range e.Identities {
			addr, err := mail.ParseAddress(id)
			if err != nil {
				// ocicrypt cannot parse identities without an address:
				// leave them out of the keyring it gets.
				delete(e.Identities, id)
				continue
			}
			if picked == "" && matches(addr.Name, addr.Address) {
				picked = addr.Address
			}
		}
		if picked == "" {
			continue
		}
		if _, ok := e.EncryptionKey(time.Now()); !ok {
			return nil, fmt.Errorf("OpenPGP key 0x%X (%s) has no valid encryption key", e.PrimaryKey.KeyId, picked)
		}
		if err := e.Serialize(ring); err != nil {
			return nil, fmt.Errorf("encode OpenPGP key: %w", err)
		}
		names = append(names, picked)
		if !byFile {
			break
		}
	}
	if len(names) == 0 {
		if byFile {
			return nil, errors.New("no OpenPGP key with an e-mail identity in the file")
		}
		return nil, fmt.Errorf("no OpenPGP key for %q in gpg's public keyring", value)
	}
	return names, nil
}

// EncryptLayer encrypts a layer for rc while it streams. desc describes
// the plain layer (its digest, size and media type must be right: the
// digest goes into the encrypted options, and the plain stream is checked
// against it). r streams the plain layer. The returned reader streams the
// ciphertext; once it has been read to io.EOF, done returns the
// descriptor of the encrypted layer: media type with +encrypted, digest
// and size of the ciphertext, and the org.opencontainers.image.enc.*
// annotations holding the wrapped layer key (other annotations are kept).
func EncryptLayer(ctx context.Context, rc *Recipients, desc ocispec.Descriptor, r io.Reader) (io.Reader, func() (ocispec.Descriptor, error), error) {
	fail := func(format string, args ...any) (io.Reader, func() (ocispec.Descriptor, error), error) {
		return nil, nil, fmt.Errorf("encrypt layer %s: %s", desc.Digest, fmt.Sprintf(format, args...))
	}
	if rc == nil || len(rc.list) == 0 {
		return fail("no recipients")
	}
	if err := ctx.Err(); err != nil {
		return fail("%v", err)
	}
	encMT, err := EncryptedMediaType(desc.MediaType)
	if err != nil {
		return fail("%v", err)
	}
	if err := desc.Digest.Validate(); err != nil {
		return fail("bad digest: %v", err)
	}
	if desc.Size < 0 {
		return fail("bad size %d", desc.Size)
	}
	plainDesc := desc
	plainDesc.Annotations = withoutEncAnnotations(desc.Annotations)

	plain := &hashingReader{r: r, h: desc.Digest.Algorithm().Hash()}
	ec := &encconfig.EncryptConfig{Parameters: rc.params, DecryptConfig: encconfig.DecryptConfig{Parameters: rc.decParams}}
	registryMu.RLock()
	encR, fin, err := ocicrypt.EncryptLayer(ec, plain, plainDesc)
	registryMu.RUnlock()
	if err != nil {
		return fail("%s", oneLine(err.Error()))
	}
	if encR == nil || fin == nil {
		return fail("ocicrypt returned no ciphertext")
	}
	out := &hashingReader{r: encR, h: sha256.New(), ctx: ctx}

	var (
		once    sync.Once
		newDesc ocispec.Descriptor
		finErr  error
	)
	done := func() (ocispec.Descriptor, error) {
		once.Do(func() {
			newDesc, finErr = finish(desc, encMT, plain, out, fin)
		})
		return newDesc, finErr
	}
	return out, done, nil
}

// Encrypt is EncryptLayer for rc: it has image.EncryptFunc's signature,
// so that a Recipients can encrypt the layers of a push or of
// `stockade image encrypt`.
func (rc *Recipients) Encrypt(ctx context.Context, desc ocispec.Descriptor, r io.Reader) (io.Reader, func() (ocispec.Descriptor, error), error) {
	return EncryptLayer(ctx, rc, desc, r)
}

// finish checks the streams and builds the encrypted layer's descriptor.
func finish(desc ocispec.Descriptor, encMT string, plain, out *hashingReader, fin ocicrypt.EncryptLayerFinalizer) (ocispec.Descriptor, error) {
	fail := func(format string, args ...any) (ocispec.Descriptor, error) {
		return ocispec.Descriptor{}, fmt.Errorf("encrypt layer %s: %s", desc.Digest, fmt.Sprintf(format, args...))
	}
	if out.err != nil && !errors.Is(out.err, io.EOF) {
		return fail("the stream failed: %v", out.err)
	}
	if !out.eof {
		return fail("the ciphertext was not read to its end")
	}
	if got := digest.NewDigest(desc.Digest.Algorithm(), plain.h); got != desc.Digest || plain.n != desc.Size {
		return fail("the plain layer read is %s (%d bytes), not what the descriptor says (%d bytes)", got, plain.n, desc.Size)
	}
	wrapMu.Lock()
	registryMu.RLock()
	annotations, err := fin()
	registryMu.RUnlock()
	wrapMu.Unlock()
	if err != nil {
		return fail("wrap the layer key: %s", oneLine(err.Error()))
	}
	nd := desc
	nd.MediaType = encMT
	nd.Digest = digest.NewDigest(digest.SHA256, out.h)
	nd.Size = out.n
	nd.Annotations = withoutEncAnnotations(desc.Annotations)
	if nd.Annotations == nil {
		nd.Annotations = map[string]string{}
	}
	maps.Copy(nd.Annotations, annotations)
	return nd, nil
}

// withoutEncAnnotations copies annotations without OCI-crypt's.
func withoutEncAnnotations(a map[string]string) map[string]string {
	if a == nil {
		return nil
	}
	out := make(map[string]string, len(a))
	for k, v := range a {
		if !strings.HasPrefix(k, AnnotationPrefix) {
			out[k] = v
		}
	}
	return out
}

// hashingReader hashes and counts what is read through it.
type hashingReader struct {
	r   io.Reader
	h   hash.Hash
	ctx context.Context // checked before each read when set
	n   int64
	eof bool
	err error
}

func (h *hashingReader) Read(p []byte) (int, error) {
	if h.err != nil {
		return 0, h.err
	}
	if h.ctx != nil {
		if err := h.ctx.Err(); err != nil {
			h.err = err
			return 0, err
		}
	}
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	if err != nil {
		h.err = err
		h.eof = errors.Is(err, io.EOF)
	}
	return n, err
}
