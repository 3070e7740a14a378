package crypt

import (
	"fmt"
	"strings"
)

// EncryptedSuffix ends the media type of an OCI-crypt encrypted layer.
const EncryptedSuffix = "+encrypted"

// Layer media types that can be encrypted.
const (
	mtOCITar           = "application/vnd.oci.image.layer.v1.tar"
	mtOCIGzip          = "application/vnd.oci.image.layer.v1.tar+gzip"
	mtOCIZstd          = "application/vnd.oci.image.layer.v1.tar+zstd"
	mtOCINondistTar    = "application/vnd.oci.image.layer.nondistributable.v1.tar"
	mtOCINondistGzip   = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
	mtOCINondistZstd   = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
	mtDockerTar        = "application/vnd.docker.image.rootfs.diff.tar"
	mtDockerGzip       = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mtDockerZstd       = "application/vnd.docker.image.rootfs.diff.tar.zstd"
	mtDockerForeignTar = "application/vnd.docker.image.rootfs.foreign.diff.tar"
	mtDockerForeignGz  = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

	// mtDockerTarEncAlias is containerd's name for an encrypted
	// uncompressed Docker layer (".encrypted", not "+encrypted"). It is
	// read, never written.
	mtDockerTarEncAlias = "application/vnd.docker.image.rootfs.diff.tar.encrypted"
)

// plainLayerTypes are the layer media types EncryptedMediaType knows.
var plainLayerTypes = map[string]bool{
	mtOCITar: true, mtOCIGzip: true, mtOCIZstd: true,
	mtOCINondistTar: true, mtOCINondistGzip: true, mtOCINondistZstd: true,
	mtDockerTar: true, mtDockerGzip: true, mtDockerZstd: true,
	mtDockerForeignTar: true, mtDockerForeignGz: true,
}

// IsEncryptedMediaType tells whether mt is the media type of an encrypted
// layer: it ends in +encrypted (or is containerd's
// "application/vnd.docker.image.rootfs.diff.tar.encrypted").
func IsEncryptedMediaType(mt string) bool {
	return strings.HasSuffix(mt, EncryptedSuffix) || mt == mtDockerTarEncAlias
}

// EncryptedMediaType returns the media type of the encrypted form of a
// layer of media type mt: "application/vnd.oci.image.layer.v1.tar+zstd"
// gives "application/vnd.oci.image.layer.v1.tar+zstd+encrypted". It
// knows the OCI layer types (tar, +gzip, +zstd, and their nondistributable
// variants) and the Docker ones (rootfs.diff.tar, .tar.gzip, .tar.zstd,
// foreign); other types, and types that are already encrypted, are an
// error.
func EncryptedMediaType(mt string) (string, error) {
	if IsEncryptedMediaType(mt) {
		return "", fmt.Errorf("media type %q is already encrypted", mt)
	}
	if !plainLayerTypes[mt] {
		return "", fmt.Errorf("media type %q is not a layer type that can be encrypted", mt)
	}
	return mt + EncryptedSuffix, nil
}

// DecryptedMediaType is the inverse of EncryptedMediaType: it returns the
// media type of the layer an encrypted layer of media type mt wraps, which
// tells its compression ("...tar+zstd+encrypted" gives "...tar+zstd").
func DecryptedMediaType(mt string) (string, error) {
	if mt == mtDockerTarEncAlias {
		return mtDockerTar, nil
	}
	base, ok := strings.CutSuffix(mt, EncryptedSuffix)
	if !ok {
		return "", fmt.Errorf("media type %q is not encrypted", mt)
	}
	if !plainLayerTypes[base] {
		return "", fmt.Errorf("media type %q is not a known encrypted layer type", mt)
	}
	return base, nil
}
