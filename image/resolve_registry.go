//go:build !lean

package image

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stockade/stockade/image/content"
)

// resolve fetches the manifest (choosing the platform from an index) and
// the config, stores both, and checks them.
func (s *Service) resolve(ctx context.Context, c *registryClient, store *content.Store, r name.Reference, want ocispec.Platform, explicit bool) (*resolved, error) {
	var wantDigest digest.Digest
	if d, ok := r.(name.Digest); ok {
		wantDigest = digest.Digest(d.DigestStr())
	}
	desc, data, err := c.manifest(ctx, r.Identifier(), wantDigest)
	if err != nil {
		return nil, err
	}
	return s.loadImage(ctx, store, registrySource{s: s, c: c, store: store}, desc, data, want, explicit)
}

// registrySource fetches what the store does not have from a registry.
type registrySource struct {
	s     *Service
	c     *registryClient
	store *content.Store
}

func (r registrySource) manifest(ctx context.Context, desc ocispec.Descriptor) ([]byte, error) {
	if data, err := r.store.ReadAll(ctx, desc, maxManifestSize); err == nil {
		return data, nil
	}
	got, data, err := r.c.manifest(ctx, desc.Digest.String(), desc.Digest)
	if err != nil {
		return nil, err
	}
	if got.Size != desc.Size {
		return nil, fmt.Errorf("manifest %s: %w: got %d bytes, index says %d", desc.Digest, content.ErrSizeMismatch, got.Size, desc.Size)
	}
	return data, nil
}

func (r registrySource) config(ctx context.Context, desc ocispec.Descriptor) error {
	return r.s.fetchToStore(ctx, r.c, r.store, desc, noProgress{})
}
