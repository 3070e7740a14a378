package image

import (
	"sort"
	"strings"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stockade/stockade/image/local"
)

// Record is what stockade knows about one image name (local.Record).
type Record = local.Record

// ChainIDs computes the chain ids of a stack of layers from their diff ids
// (local.ChainIDs).
func ChainIDs(diffIDs []digest.Digest) []digest.Digest { return local.ChainIDs(diffIDs) }

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
