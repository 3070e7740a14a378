package crypt

import (
	"errors"
	"strings"

	digest "github.com/opencontainers/go-digest"
)

// Decrypt errors wrap one of these, so callers can tell them apart with
// errors.Is. Their text is not part of the messages.
var (
	// ErrNoKeys: there is no key at all to try.
	ErrNoKeys = errors.New("no decryption keys")
	// ErrWrongKey: there are keys, but none opens the layer.
	ErrWrongKey = errors.New("no key opens the layer")
	// ErrCorrupt: the layer's encryption annotations (a wrapped key or the
	// cipher options) cannot be read.
	ErrCorrupt = errors.New("corrupt encryption annotations")
	// ErrAuthentication: the ciphertext does not match its HMAC: it was
	// altered or truncated. It is found at the end of the stream.
	ErrAuthentication = errors.New("ciphertext fails authentication")
	// ErrDigestMismatch: the decrypted layer is not the one the
	// encryption options name.
	ErrDigestMismatch = errors.New("decrypted layer digest mismatch")
)

// layerError is the one-line error of Decrypt: "layer DIGEST: msg".
type layerError struct {
	layer digest.Digest
	msg   string
	kind  error // one of the Err* above, or nil
	cause error // what went wrong underneath, or nil
}

func (e *layerError) Error() string {
	return "layer " + string(e.layer) + ": " + e.msg
}

func (e *layerError) Unwrap() []error {
	var errs []error
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// oneLine flattens a multi-line error text (ocicrypt's lists of reasons).
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "- "))
		l = strings.TrimSuffix(l, ":")
		if l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}
