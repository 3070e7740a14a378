package crypt

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/containers/ocicrypt"
	"github.com/containers/ocicrypt/blockcipher"
	encconfig "github.com/containers/ocicrypt/config"
	"github.com/go-jose/go-jose/v4"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/smallstep/pkcs7"
)

// Decrypt returns the plaintext of the encrypted layer whose ciphertext r
// streams: the layer still compressed as DecryptedMediaType(layer.MediaType)
// says. It has image.DecryptFunc's signature. Nothing is written to disk:
// the stream is decrypted (AES-256-CTR) as it is read.
//
// The layer key is unwrapped first, with ocicrypt's DecryptLayer, from the
// descriptor's org.opencontainers.image.enc.keys.* annotations; failures
// are reported before any byte is read, as one line naming the layer and
// what is missing, wrapping ErrNoKeys, ErrWrongKey or ErrCorrupt.
//
// The ciphertext is authenticated by an HMAC that can only be checked at
// its end: the returned reader then fails with ErrAuthentication instead
// of io.EOF when the layer was altered or truncated, and with
// ErrDigestMismatch when the plaintext is not the layer the (encrypted)
// options name. The bytes read before that are unauthenticated: the
// caller must discard what it made of them when the stream fails.
func (d *Decrypter) Decrypt(ctx context.Context, layer ocispec.Descriptor, r io.Reader) (io.Reader, error) {
	fail := func(kind error, cause error, format string, args ...any) (io.Reader, error) {
		return nil, &layerError{layer: layer.Digest, msg: fmt.Sprintf(format, args...), kind: kind, cause: cause}
	}
	if err := ctx.Err(); err != nil {
		return fail(nil, err, "decrypt: %v", err)
	}
	if r == nil {
		return fail(nil, nil, "decrypt: no stream")
	}
	info := LayerInfo(layer)
	if !info.Encrypted {
		return fail(nil, nil, "media type %q is not an encrypted layer type", layer.MediaType)
	}
	if len(info.Schemes) == 0 {
		return fail(ErrCorrupt, nil, "media type says encrypted, but there is no wrapped key (no %s* annotation)", AnnotationKeysPrefix)
	}
	if err := checkPubOpts(layer.Annotations[AnnotationPubOpts]); err != nil {
		return fail(ErrCorrupt, err, "annotation %s is corrupt: %v", AnnotationPubOpts, err)
	}
	usable := d.usable(info.Schemes)
	if len(usable) == 0 {
		if d.keyCount() == 0 {
			return nil, d.noKeysError(layer, info)
		}
		return nil, d.wrongKeyError(layer, info, usable, nil)
	}

	src := &sourceReader{r: r}
	dc := &encconfig.DecryptConfig{Parameters: d.params}
	sink := &unwrapSink{}
	unwrapSinks.Store(dc, sink)
	registryMu.RLock()
	plain, want, err := ocicrypt.DecryptLayer(dc, src, layer, false)
	registryMu.RUnlock()
	unwrapSinks.Delete(dc)
	if err != nil {
		return nil, d.classify(layer, info, usable, err)
	}
	if want == "" {
		// See capturingWrapper: the digest ocicrypt means to report.
		if opts := sink.get(); opts != nil {
			var priv blockcipher.PrivateLayerBlockCipherOptions
			if err := json.Unmarshal(opts, &priv); err != nil {
				return fail(ErrCorrupt, err, "the unwrapped layer options are not JSON")
			}
			want = priv.Digest
		}
	}
	pr := &plainReader{ctx: ctx, r: plain, src: src, layer: layer.Digest, want: want, strict: d.StrictDigest, warn: d.Warn}
	if want != "" {
		if err := want.Validate(); err != nil {
			return fail(ErrCorrupt, err, "the encryption options name an invalid layer digest %q", string(want))
		}
		// Hash the plaintext only when a mismatch is reported somewhere.
		if d.StrictDigest || d.Warn != nil {
			pr.h = want.Algorithm().Hash()
		}
	}
	return pr, nil
}

// usable returns the schemes of the layer this Decrypter has a key for.
func (d *Decrypter) usable(schemes []string) []string {
	if d == nil {
		return nil
	}
	var out []string
	for _, s := range schemes {
		ok := false
		switch s {
		case "jwe":
			ok = d.has[kindPrivate]
		case "pkcs7":
			ok = d.has[kindPrivate] && len(d.certs) > 0
		case "pgp":
			ok = d.has[kindGPG]
		case "pkcs11":
			ok = d.has[kindPKCS11]
		default:
			if name, isProvider := strings.CutPrefix(s, "provider."); isProvider {
				ok = slices.Contains(d.providers, name)
			}
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

func (d *Decrypter) keyCount() int {
	if d == nil {
		return 0
	}
	return len(d.keys)
}

// classify turns an error of ocicrypt.DecryptLayer into a layerError.
// ocicrypt says why in text only; its two key-stage failures start with
// fixed words, and anything else comes after the layer key was unwrapped.
func (d *Decrypter) classify(layer ocispec.Descriptor, info Info, usable []string, err error) error {
	msg := err.Error()
	keyStage := strings.HasPrefix(msg, "missing private key needed for decryption") ||
		strings.HasPrefix(msg, "no suitable key unwrapper found")
	if !keyStage {
		return &layerError{layer: layer.Digest, kind: ErrCorrupt, cause: err,
			msg: "the layer key was unwrapped, but the cipher options it holds are unusable: " + oneLine(msg)}
	}
	var corrupt []string
	valid := false
	for _, s := range usable {
		if e := checkWrapped(s, layer.Annotations[AnnotationKeysPrefix+s]); e != nil {
			corrupt = append(corrupt, fmt.Sprintf("annotation %s%s: %v", AnnotationKeysPrefix, s, e))
		} else {
			valid = true
		}
	}
	if len(corrupt) > 0 && !valid {
		return &layerError{layer: layer.Digest, kind: ErrCorrupt, cause: err,
			msg: "wrapped key is corrupt (" + strings.Join(corrupt, "; ") + ")"}
	}
	return d.wrongKeyError(layer, info, usable, err)
}

// noKeysError says that there is no key at all.
func (d *Decrypter) noKeysError(layer ocispec.Descriptor, info Info) error {
	var where []string
	if d != nil && d.flagArgs > 0 {
		where = append(where, "--key gave only certificates")
	} else {
		where = append(where, "no --key given")
	}
	switch {
	case d == nil || d.keysDir == "":
		where = append(where, "no decryption_keys_path")
	case d.keysDirState == "missing":
		where = append(where, d.keysDir+" does not exist")
	default:
		where = append(where, d.keysDir+" has none")
	}
	msg := fmt.Sprintf("encrypted for %s; no decryption keys: %s", strings.Join(info.Schemes, ", "), strings.Join(where, " and "))
	if h := d.providerHint(info); h != "" {
		msg += "; " + h
	}
	return &layerError{layer: layer.Digest, kind: ErrNoKeys, msg: msg}
}

// wrongKeyError says that none of the keys opens the layer.
func (d *Decrypter) wrongKeyError(layer ocispec.Descriptor, info Info, usable []string, cause error) error {
	n := d.keyCount()
	var origin []string
	if d.fromFlag > 0 {
		origin = append(origin, strconv.Itoa(d.fromFlag)+" from --key")
	}
	if d.fromDir > 0 {
		origin = append(origin, strconv.Itoa(d.fromDir)+" in "+d.keysDir)
	}
	var providers []string
	for _, s := range usable {
		if name, ok := strings.CutPrefix(s, "provider."); ok {
			providers = append(providers, name)
		}
	}
	single := "in " + d.keysDir
	if d.fromFlag == 1 {
		single = "from --key"
	}
	var who string
	switch {
	case n == 1 && len(providers) == 0:
		who = "the only key (" + single + ") does not open it"
	case n == 1:
		who = "neither the only key (" + single + ") nor key provider " + strings.Join(providers, ", ") + " opens it"
	case n > 0 && len(providers) == 0:
		who = fmt.Sprintf("none of the %d keys (%s) opens it", n, strings.Join(origin, ", "))
	case n > 0:
		who = fmt.Sprintf("none of the %d keys (%s) nor key provider %s opens it", n, strings.Join(origin, ", "), strings.Join(providers, ", "))
	case len(providers) == 1:
		who = "key provider " + providers[0] + " does not open it"
	default:
		who = "none of key providers " + strings.Join(providers, ", ") + " opens it"
	}
	msg := fmt.Sprintf("encrypted for %s; %s", strings.Join(info.Schemes, ", "), who)
	if len(usable) == 0 {
		msg += " (it needs " + needs(info.Schemes) + ")"
	} else if slices.Contains(info.Schemes, "pkcs7") && !slices.Contains(usable, "pkcs7") && d.has[kindPrivate] {
		msg += "; pkcs7 also needs the recipient's certificate (--dec-recipient pkcs7:CERT)"
	}
	if h := d.providerHint(info); h != "" {
		msg += "; " + h
	}
	if len(providers) > 0 && cause != nil {
		msg += "; ocicrypt: " + oneLine(cause.Error())
	}
	return &layerError{layer: layer.Digest, kind: ErrWrongKey, cause: cause, msg: msg}
}

// needs says what kind of key opens a layer wrapped for schemes.
func needs(schemes []string) string {
	var out []string
	for _, s := range schemes {
		switch s {
		case "jwe":
			out = append(out, "an RSA or EC private key")
		case "pkcs7":
			out = append(out, "an RSA private key and its certificate (--dec-recipient pkcs7:CERT)")
		case "pgp":
			out = append(out, "a GPG secret key")
		case "pkcs11":
			out = append(out, "a PKCS#11 key")
		default:
			if name, ok := strings.CutPrefix(s, "provider."); ok {
				out = append(out, "key provider "+name)
			} else {
				out = append(out, "a key for scheme "+s)
			}
		}
	}
	return strings.Join(out, " or ")
}

// providerHint names the key providers the layer is wrapped for that are
// not configured.
func (d *Decrypter) providerHint(info Info) string {
	var missing []string
	for _, s := range info.Schemes {
		if name, ok := strings.CutPrefix(s, "provider."); ok && (d == nil || !slices.Contains(d.providers, name)) {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return "key provider " + strings.Join(missing, ", ") + " is not configured (OCICRYPT_KEYPROVIDER_CONFIG)"
}

// checkPubOpts checks the public cipher options annotation the way
// ocicrypt will read it.
func checkPubOpts(v string) error {
	if v == "" {
		return errors.New("missing")
	}
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return errors.New("not base64")
	}
	var opts blockcipher.PublicLayerBlockCipherOptions
	if err := json.Unmarshal(raw, &opts); err != nil {
		return errors.New("not JSON cipher options")
	}
	if opts.CipherType != blockcipher.AES256CTR {
		return fmt.Errorf("cipher %q is not supported", opts.CipherType)
	}
	if len(opts.Hmac) == 0 {
		return errors.New("no HMAC")
	}
	return nil
}

// checkWrapped checks that a wrapped-key annotation can be parsed the way
// the scheme's ocicrypt key wrapper reads it.
func checkWrapped(scheme, v string) error {
	if v == "" {
		return errors.New("empty")
	}
	for _, part := range strings.Split(v, ",") {
		raw, err := base64.StdEncoding.DecodeString(part)
		if err != nil {
			return errors.New("not base64")
		}
		switch {
		case scheme == "jwe":
			_, err = jose.ParseEncrypted(string(raw),
				[]jose.KeyAlgorithm{jose.RSA_OAEP, jose.RSA_OAEP_256, jose.ECDH_ES_A128KW, jose.ECDH_ES_A192KW, jose.ECDH_ES_A256KW},
				[]jose.ContentEncryption{jose.A128CBC_HS256, jose.A192CBC_HS384, jose.A256CBC_HS512, jose.A128GCM, jose.A192GCM, jose.A256GCM})
			if err != nil {
				return errors.New("not a JWE")
			}
		case scheme == "pkcs7":
			if _, err := pkcs7.Parse(raw); err != nil {
				return errors.New("not a PKCS#7 envelope")
			}
		case scheme == "pgp":
			if _, err := pgpEncryptedKeys(raw); err != nil {
				return errors.New("not an OpenPGP encrypted message")
			}
		case scheme == "pkcs11":
			if !json.Valid(raw) {
				return errors.New("not JSON")
			}
		case len(raw) == 0:
			return errors.New("empty")
		}
	}
	return nil
}

// sourceReader remembers the first error of the ciphertext stream, so
// that a read error is not taken for an authentication failure.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && s.err == nil {
		s.err = err
	}
	return n, err
}

// plainReader streams ocicrypt's plaintext, hashes it, and turns the end
// of the stream into an error when the HMAC or the digest does not match.
type plainReader struct {
	ctx   context.Context
	r     io.Reader
	src   *sourceReader
	layer digest.Digest
	want  digest.Digest
	h     hash.Hash
	err   error

	strict bool
	warn   func(string)
}

func (p *plainReader) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	if err := p.ctx.Err(); err != nil {
		p.err = &layerError{layer: p.layer, msg: "decrypt: " + err.Error(), cause: err}
		return 0, p.err
	}
	n, err := p.r.Read(b)
	if n > 0 && p.h != nil {
		p.h.Write(b[:n])
	}
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, io.EOF):
		if p.h != nil {
			if got := digest.NewDigest(p.want.Algorithm(), p.h); got != p.want {
				e := &layerError{layer: p.layer, kind: ErrDigestMismatch,
					msg: fmt.Sprintf("decrypted layer is %s, but its encryption options name %s", got, p.want)}
				if p.strict {
					p.err = e
					return n, p.err
				}
				if p.warn != nil {
					p.warn(e.Error() + " (containers/image names the layer before it recompressed it; the HMAC matched)")
				}
			}
		}
		p.err = io.EOF
		return n, io.EOF
	case p.src.err != nil:
		p.err = &layerError{layer: p.layer, msg: "reading encrypted layer: " + p.src.err.Error(), cause: p.src.err}
	default:
		p.err = &layerError{layer: p.layer, kind: ErrAuthentication, cause: err,
			msg: "ciphertext fails authentication (HMAC mismatch at end of stream): the layer was altered or truncated"}
	}
	return n, p.err
}
