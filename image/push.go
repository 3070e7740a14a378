package image

import (
	"context"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// PushOptions tune Push.
type PushOptions struct {
	// Compression recompresses the layers: "gzip" or "zstd"; "" keeps
	// them as they are. Recompressed layers get new digests; their
	// diff_ids, and so the image config, stay the same.
	Compression string
	// PlainHTTP allows plain HTTP to a registry that is not loopback.
	PlainHTTP bool
	// Encrypt encrypts layers (after any recompression) for the
	// recipients it was made for; nil pushes them unencrypted. Layers
	// that are encrypted already cannot be encrypted again.
	Encrypt EncryptFunc
	// EncryptLayers chooses the layers Encrypt encrypts, by index: 0 is
	// the base layer, negative counts from the top (-1 is the top layer),
	// as skopeo's --encrypt-layer. Empty means every layer.
	EncryptLayers []int
}

// EncryptFunc encrypts one layer while it streams: layer describes the
// plain layer (media type, digest and size must be right), r streams it.
// The returned reader streams the ciphertext; once it has been read to
// io.EOF, done returns the descriptor of the encrypted layer (media type
// with +encrypted, the ciphertext's digest and size, the annotations
// holding the wrapped keys). It is the seam where OCI-crypt plugs in, as
// DecryptFunc is for pulls: (*crypt.Recipients).Encrypt is one.
type EncryptFunc func(ctx context.Context, layer ocispec.Descriptor, r io.Reader) (ciphertext io.Reader, done func() (ocispec.Descriptor, error), err error)

// ociLayerMediaType is the OCI media type of each compression.
var ociLayerMediaType = map[Compression]string{
	Uncompressed: ocispec.MediaTypeImageLayer,
	Gzip:         ocispec.MediaTypeImageLayerGzip,
	Zstd:         ocispec.MediaTypeImageLayerZstd,
}
