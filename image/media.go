package image

import (
	"errors"
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Docker image manifest (v2 schema 2) media types.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerLayerGzip    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeDockerLayerZstd    = "application/vnd.docker.image.rootfs.diff.tar.zstd"
	MediaTypeDockerForeignGzip  = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// EncryptedSuffix ends the media type of an OCI-crypt encrypted layer.
const EncryptedSuffix = "+encrypted"

// MediaTypeDockerLayerEncrypted is containerd's (imgcrypt's) name for an
// encrypted uncompressed Docker layer: ".encrypted", not "+encrypted".
// Stockade reads it; it never writes it.
const MediaTypeDockerLayerEncrypted = "application/vnd.docker.image.rootfs.diff.tar.encrypted"

// Compression is a layer's compression algorithm.
type Compression string

// The compressions stockade reads and writes.
const (
	Uncompressed Compression = "none"
	Gzip         Compression = "gzip"
	Zstd         Compression = "zstd"
)

// layerCompression maps every known layer media type (without
// +encrypted) to the compression it declares.
var layerCompression = map[string]Compression{
	ocispec.MediaTypeImageLayer:                     Uncompressed,
	ocispec.MediaTypeImageLayerGzip:                 Gzip,
	ocispec.MediaTypeImageLayerZstd:                 Zstd,
	ocispec.MediaTypeImageLayerNonDistributable:     Uncompressed, //nolint:staticcheck // still found in the wild
	ocispec.MediaTypeImageLayerNonDistributableGzip: Gzip,         //nolint:staticcheck
	ocispec.MediaTypeImageLayerNonDistributableZstd: Zstd,         //nolint:staticcheck
	MediaTypeDockerLayerGzip:                        Gzip,
	MediaTypeDockerLayerZstd:                        Zstd,
	MediaTypeDockerForeignGzip:                      Gzip,
	"application/vnd.docker.image.rootfs.diff.tar":  Uncompressed,
}

// ErrUnknownMediaType is wrapped by errors about layers whose media type
// stockade does not know.
var ErrUnknownMediaType = errors.New("unknown media type")

// LayerMediaType splits a layer media type into the compression it
// declares and whether it is encrypted. Unknown types fail with an error
// wrapping ErrUnknownMediaType.
func LayerMediaType(mt string) (Compression, bool, error) {
	if mt == MediaTypeDockerLayerEncrypted {
		return Uncompressed, true, nil
	}
	base, encrypted := strings.CutSuffix(mt, EncryptedSuffix)
	c, ok := layerCompression[base]
	if !ok {
		return "", false, fmt.Errorf("%w %q", ErrUnknownMediaType, mt)
	}
	return c, encrypted, nil
}

// DecryptedMediaType returns the media type of the layer an encrypted
// layer of media type mt wraps: mt without +encrypted (containerd's
// ".tar.encrypted" gives the Docker tar type). Media types that are not
// those of encrypted layers are an error.
func DecryptedMediaType(mt string) (string, error) {
	if mt == MediaTypeDockerLayerEncrypted {
		return "application/vnd.docker.image.rootfs.diff.tar", nil
	}
	base, ok := strings.CutSuffix(mt, EncryptedSuffix)
	if _, known := layerCompression[base]; !ok || !known {
		return "", fmt.Errorf("media type %q is not that of an encrypted layer", mt)
	}
	return base, nil
}

// ociLayerTypes maps the Docker layer media types to their OCI
// equivalents (foreign layers are nondistributable ones).
var ociLayerTypes = map[string]string{
	"application/vnd.docker.image.rootfs.diff.tar": ocispec.MediaTypeImageLayer,
	MediaTypeDockerLayerGzip:                       ocispec.MediaTypeImageLayerGzip,
	MediaTypeDockerLayerZstd:                       ocispec.MediaTypeImageLayerZstd,
	MediaTypeDockerForeignGzip:                     ocispec.MediaTypeImageLayerNonDistributableGzip, //nolint:staticcheck // what foreign layers are in OCI
}

// ociMediaType returns the OCI media type of a layer of media type mt
// (known to LayerMediaType): Docker types become OCI ones, +encrypted and
// nondistributable stay.
func ociMediaType(mt string) string {
	if mt == MediaTypeDockerLayerEncrypted {
		return ocispec.MediaTypeImageLayer + EncryptedSuffix
	}
	base, encrypted := strings.CutSuffix(mt, EncryptedSuffix)
	if o, ok := ociLayerTypes[base]; ok {
		base = o
	}
	if encrypted {
		base += EncryptedSuffix
	}
	return base
}

// zstdWindow bounds the window a zstd layer may ask for (128 MiB, as with
// `zstd --long=27`), so a hostile stream cannot make us allocate more.
const zstdWindow = 1 << 27
