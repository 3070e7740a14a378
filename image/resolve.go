package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stockade/stockade/image/content"
	"github.com/stockade/stockade/image/local"
)

// Size limits for documents read into memory.
const maxConfigSize = local.MaxConfigSize

// resolved is an image whose manifest and config have been fetched and
// checked.
type resolved struct {
	index    *ocispec.Descriptor
	target   ocispec.Descriptor
	manifest ocispec.Manifest
	config   ocispec.Image
	chainIDs []digest.Digest
}

// imageSource gets the documents of an image into the store: a registry
// for pulls, the store itself for imports.
type imageSource interface {
	// manifest returns the bytes of the manifest or index desc, verified.
	manifest(ctx context.Context, desc ocispec.Descriptor) ([]byte, error)
	// config puts the config blob desc into the store.
	config(ctx context.Context, desc ocispec.Descriptor) error
}

// loadImage walks from the manifest or index desc (whose bytes are data)
// to the manifest for want, checks it, gets the config into the store and
// checks it against the manifest and the platform (a mismatch is an error
// if explicit, a warning otherwise), and then stores the manifest.
func (s *Service) loadImage(ctx context.Context, store *content.Store, src imageSource, desc ocispec.Descriptor, data []byte, want ocispec.Platform, explicit bool) (*resolved, error) {
	img := &resolved{}
	for depth := 0; isIndex(desc.MediaType); depth++ {
		if depth >= 4 {
			return nil, errors.New("indexes nested too deeply")
		}
		var idx ocispec.Index
		if err := json.Unmarshal(data, &idx); err != nil {
			return nil, fmt.Errorf("index %s: %w", desc.Digest, err)
		}
		sel, err := selectManifest(idx, want)
		if err != nil {
			return nil, err
		}
		if img.index == nil {
			d := ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
			img.index = &d
		}
		if err := checkDescriptor(sel); err != nil {
			return nil, fmt.Errorf("index %s: %w", desc.Digest, err)
		}
		if sel.Size > maxManifestSize {
			return nil, fmt.Errorf("manifest %s: %d bytes is more than the %d allowed", sel.Digest, sel.Size, maxManifestSize)
		}
		desc = ocispec.Descriptor{MediaType: sel.MediaType, Digest: sel.Digest, Size: sel.Size}
		if data, err = src.manifest(ctx, desc); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
		}
	}
	if desc.MediaType == "" {
		mt, err := manifestMediaType(data, "")
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
		}
		desc.MediaType = mt
	}
	desc = ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
	if desc.MediaType != ocispec.MediaTypeImageManifest && desc.MediaType != MediaTypeDockerManifest {
		return nil, fmt.Errorf("manifest %s: unsupported media type %q", desc.Digest, desc.MediaType)
	}
	img.target = desc
	if err := json.Unmarshal(data, &img.manifest); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	m := &img.manifest
	if err := checkDescriptor(m.Config); err != nil {
		return nil, fmt.Errorf("manifest %s: config: %w", desc.Digest, err)
	}
	switch m.Config.MediaType {
	case ocispec.MediaTypeImageConfig, MediaTypeDockerConfig:
	default:
		return nil, fmt.Errorf("manifest %s: config media type %q is not an image config", desc.Digest, m.Config.MediaType)
	}
	for _, l := range m.Layers {
		if err := checkDescriptor(l); err != nil {
			return nil, layerError(l.Digest, err)
		}
	}
	if m.Config.Size > maxConfigSize {
		return nil, fmt.Errorf("config %s: %d bytes is more than the %d allowed", m.Config.Digest, m.Config.Size, maxConfigSize)
	}
	if err := src.config(ctx, m.Config); err != nil {
		return nil, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	cfg, err := store.ReadAll(ctx, m.Config, maxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	if err := json.Unmarshal(cfg, &img.config); err != nil {
		return nil, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	if img.config.RootFS.Type != "layers" {
		return nil, fmt.Errorf("config %s: rootfs type %q is not \"layers\"", m.Config.Digest, img.config.RootFS.Type)
	}
	if n, k := len(img.config.RootFS.DiffIDs), len(m.Layers); n != k {
		return nil, fmt.Errorf("config %s: %d diff_ids for %d layers", m.Config.Digest, n, k)
	}
	for _, d := range img.config.RootFS.DiffIDs {
		if err := d.Validate(); err != nil || d.Algorithm() != digest.SHA256 {
			return nil, fmt.Errorf("config %s: bad diff_id %q", m.Config.Digest, d)
		}
	}
	have := ocispec.Platform{OS: img.config.OS, Architecture: img.config.Architecture, Variant: img.config.Variant}
	if platformRank(want, have) == 0 {
		if explicit {
			return nil, fmt.Errorf("image is for %s, not %s", FormatPlatform(NormalizePlatform(have)), FormatPlatform(want))
		}
		s.logger().WarnContext(ctx, "image platform differs from the host's", "image", FormatPlatform(NormalizePlatform(have)), "host", FormatPlatform(want))
	}
	img.chainIDs = ChainIDs(img.config.RootFS.DiffIDs)
	// The manifest is stored last, once its config is known to be sound:
	// an image refused here leaves no document of it in the store.
	if err := store.Put(ctx, desc, data); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	return img, nil
}

func isIndex(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == MediaTypeDockerManifestList
}

// checkDescriptor rejects descriptors that cannot be fetched safely.
func checkDescriptor(d ocispec.Descriptor) error {
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("bad digest %q: %w", d.Digest, err)
	}
	if d.Digest.Algorithm() != digest.SHA256 {
		return fmt.Errorf("digest %s: unsupported algorithm", d.Digest)
	}
	if d.Size < 0 {
		return fmt.Errorf("negative size %d", d.Size)
	}
	return nil
}

// maxManifestSize bounds the manifests and indexes read from registries.
const maxManifestSize = 4 << 20

// manifestMediaType decides the media type of a manifest document from its
// own mediaType field or, failing that, the HTTP Content-Type, and checks
// that the bytes are a JSON object at all.
func manifestMediaType(data []byte, contentType string) (string, error) {
	var probe struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     string          `json:"mediaType"`
		Manifests     json.RawMessage `json:"manifests"`
		Config        json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return "", fmt.Errorf("registry sent something that is not a manifest (%s): %w", contentType, err)
	}
	mt := probe.MediaType
	if mt == "" {
		switch {
		case contentType != "" && contentType != "application/json" && contentType != "text/plain":
			mt = contentType
		case probe.Manifests != nil:
			mt = ocispec.MediaTypeImageIndex
		case probe.Config != nil:
			mt = ocispec.MediaTypeImageManifest
		}
	}
	switch mt {
	case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex, MediaTypeDockerManifest, MediaTypeDockerManifestList:
		if probe.SchemaVersion != 2 {
			return "", fmt.Errorf("manifest schemaVersion %d is not supported", probe.SchemaVersion)
		}
		return mt, nil
	case "application/vnd.docker.distribution.manifest.v1+json", "application/vnd.docker.distribution.manifest.v1+prettyjws":
		return "", fmt.Errorf("docker schema 1 manifests (%s) are not supported", mt)
	case "":
		return "", errors.New("registry sent a manifest without a media type")
	}
	return "", fmt.Errorf("unsupported manifest media type %q", mt)
}
