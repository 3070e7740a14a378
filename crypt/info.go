package crypt

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Annotations OCI-crypt puts on an encrypted layer's descriptor.
const (
	// AnnotationPrefix starts every OCI-crypt annotation.
	AnnotationPrefix = "org.opencontainers.image.enc."
	// AnnotationKeysPrefix starts the annotations holding the wrapped
	// layer key, one per key-wrap scheme: ...enc.keys.jwe, ...keys.pkcs7,
	// ...keys.pgp, ...keys.pkcs11, ...keys.provider.NAME.
	AnnotationKeysPrefix = AnnotationPrefix + "keys."
	// AnnotationPubOpts holds the public options of the layer cipher
	// (cipher name and the HMAC of the ciphertext).
	AnnotationPubOpts = AnnotationPrefix + "pubopts"
)

// Info describes the encryption of one layer, as its descriptor tells.
type Info struct {
	// Encrypted is true when the media type says the layer is encrypted.
	Encrypted bool
	// MediaType is the media type of the layer inside: the descriptor's
	// own when it is not encrypted, "" when it is encrypted with an
	// unknown type.
	MediaType string
	// Schemes are the key-wrap schemes whose wrapped keys the layer
	// carries, sorted: "jwe", "pgp", "pkcs11", "pkcs7",
	// "provider.NAME". Any one of them can open the layer.
	Schemes []string
	// WrappedKeys counts the wrapped copies of the layer key per scheme
	// (one per recipient for pgp, pkcs11 and provider; jwe and pkcs7
	// put all their recipients in one copy).
	WrappedKeys map[string]int
	// PGPKeyIDs are the ids ("0x...") of the OpenPGP keys the pgp copy
	// was wrapped for, when they can be read.
	PGPKeyIDs []string
}

// LayerInfo reads the encryption of a layer from its descriptor: whether
// it is encrypted and which key-wrap schemes can open it. It never fails;
// annotations it cannot read are reported as they are.
func LayerInfo(desc ocispec.Descriptor) Info {
	info := Info{Encrypted: IsEncryptedMediaType(desc.MediaType), MediaType: desc.MediaType}
	if info.Encrypted {
		info.MediaType, _ = DecryptedMediaType(desc.MediaType)
	}
	for k, v := range desc.Annotations {
		scheme, ok := strings.CutPrefix(k, AnnotationKeysPrefix)
		if !ok || scheme == "" || v == "" {
			continue
		}
		info.Schemes = append(info.Schemes, scheme)
		if info.WrappedKeys == nil {
			info.WrappedKeys = map[string]int{}
		}
		info.WrappedKeys[scheme] = strings.Count(v, ",") + 1
		if scheme == "pgp" {
			info.PGPKeyIDs = pgpKeyIDs(v)
		}
	}
	sort.Strings(info.Schemes)
	return info
}

// pgpKeyIDs lists the recipients' key ids of the comma-separated base64
// OpenPGP messages in a pgp annotation; unreadable parts are skipped.
func pgpKeyIDs(annotation string) []string {
	var ids []string
	for _, part := range strings.Split(annotation, ",") {
		raw, err := base64.StdEncoding.DecodeString(part)
		if err != nil {
			continue
		}
		keys, err := pgpEncryptedKeys(raw)
		if err != nil {
			continue
		}
		for _, id := range keys {
			ids = append(ids, "0x"+strconv.FormatUint(id, 16))
		}
	}
	return ids
}

// pgpEncryptedKeys reads the public-key encrypted session key packets at
// the start of an OpenPGP message and returns their key ids. A message
// with none is an error.
func pgpEncryptedKeys(msg []byte) ([]uint64, error) {
	var ids []uint64
	pr := packet.NewReader(bytes.NewReader(msg))
	for {
		p, err := pr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if ek, ok := p.(*packet.EncryptedKey); ok {
			ids = append(ids, ek.KeyId)
			continue
		}
		break
	}
	if len(ids) == 0 {
		return nil, errors.New("no public-key encrypted session key packet")
	}
	return ids, nil
}
