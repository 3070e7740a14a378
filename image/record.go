package image

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Record is what stockade knows about one image name. It is stored as JSON
// in the metadata bucket metadata.BucketImages under its full name.
type Record struct {
	// Name is the full normalised name, e.g. "localhost:5000/demo:latest".
	Name string `json:"name"`
	// ID is the digest of the image config.
	ID digest.Digest `json:"id"`
	// Target is the descriptor of the platform-specific image manifest.
	Target ocispec.Descriptor `json:"target"`
	// Index is the descriptor of the index the manifest was chosen from,
	// when the reference named an index.
	Index *ocispec.Descriptor `json:"index,omitempty"`
	// Platform is the image's platform, from its config.
	Platform ocispec.Platform `json:"platform"`
	// Layers are the layer descriptors of the manifest, base first.
	Layers []ocispec.Descriptor `json:"layers"`
	// DiffIDs are the digests of the uncompressed layers (rootfs.diff_ids).
	DiffIDs []digest.Digest `json:"diffIDs"`
	// ChainIDs are the names of the committed layer snapshots, one per
	// layer; the last one is the image's root file system.
	ChainIDs []digest.Digest `json:"chainIDs"`
	// Snapshotter is the name of the snapshotter holding the layers.
	Snapshotter string `json:"snapshotter"`
	// Size is the size of the image's content: manifest, config and
	// (compressed) layers.
	Size int64 `json:"size"`
	// Created is the creation time from the image config.
	Created time.Time `json:"created,omitzero"`
	// Pulled is when the image was pulled, imported or tagged.
	Pulled time.Time `json:"pulled"`
	// Encrypted tells whether any layer is OCI-crypt encrypted.
	Encrypted bool `json:"encrypted,omitempty"`
	// EncryptionSchemes lists the key-wrapping schemes of the encrypted
	// layers (jwe, pkcs7, pgp, pkcs11, provider.NAME).
	EncryptionSchemes []string `json:"encryptionSchemes,omitempty"`
	// Untagged marks an image without a name (a commit or build without
	// -t, docker's <none>): its Name is its ID ("sha256:..."), and it is
	// reached by id. Giving it a name (Tag) drops the untagged record.
	Untagged bool `json:"untagged,omitempty"`
	// Intermediate marks an untagged image kept as build cache: it keeps
	// its layers from collection, List does not show it and Prune
	// removes it.
	Intermediate bool `json:"intermediate,omitempty"`
}

// DisplayName is the name to show for the image: its Name, or "<none>"
// for an untagged image.
func (r *Record) DisplayName() string {
	if r.Untagged {
		return "<none>"
	}
	return r.Name
}

// ShortID returns the first 12 hex digits of the ID.
func (r *Record) ShortID() string {
	e := r.ID.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return e
}

// TopChainID returns the chain id of the top layer, the parent of a
// container's root file system ("" for an image without layers).
func (r *Record) TopChainID() string {
	if len(r.ChainIDs) == 0 {
		return ""
	}
	return r.ChainIDs[len(r.ChainIDs)-1].String()
}

// ChainIDs computes the chain ids of a stack of layers from their diff ids:
// ChainID(L0) = DiffID(L0), ChainID(Ln) = sha256(ChainID(Ln-1) + " " +
// DiffID(Ln)).
func ChainIDs(diffIDs []digest.Digest) []digest.Digest {
	out := make([]digest.Digest, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		sum := sha256.Sum256([]byte(out[i-1].String() + " " + d.String()))
		out[i] = digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(sum[:]))
	}
	return out
}

// encAnnotationPrefix starts the layer annotations that hold wrapped keys,
// one per scheme.
const encAnnotationPrefix = "org.opencontainers.image.enc.keys."

// encryptionInfo tells whether layers are encrypted and with which key
// schemes.
func encryptionInfo(layers []ocispec.Descriptor) (bool, []string) {
	enc := false
	set := map[string]bool{}
	for _, l := range layers {
		if _, encrypted, _ := LayerMediaType(l.MediaType); !encrypted {
			continue
		}
		enc = true
		for k := range l.Annotations {
			if s, ok := strings.CutPrefix(k, encAnnotationPrefix); ok && s != "" {
				set[s] = true
			}
		}
	}
	var schemes []string
	for s := range set {
		schemes = append(schemes, s)
	}
	sort.Strings(schemes)
	return enc, schemes
}
