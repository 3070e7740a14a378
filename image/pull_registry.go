//go:build !lean

package image

import (
	"context"
	"errors"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Pull fetches the image ref for the chosen platform, stores its blobs,
// unpacks its layers into committed snapshots and records it. Layers are
// downloaded in parallel and applied in order while they download. On
// failure nothing is recorded, no active snapshot and no temporary file
// stays (except the resumable part of a download cut by a network fault),
// and the error names the image, the layer and the reason.
func (s *Service) Pull(ctx context.Context, ref string, opts PullOptions) (*Record, error) {
	display := ref
	if n, err := NormalizeName(ref, s.DefaultRegistry); err == nil {
		display = n
	}
	rec, err := s.pull(ctx, ref, opts)
	if err != nil {
		return nil, opError("pull "+display, err)
	}
	return rec, nil
}

func (s *Service) pull(ctx context.Context, ref string, opts PullOptions) (*Record, error) {
	r, allowPlain, err := parseRef(ref, s.DefaultRegistry, opts.PlainHTTP, s.InsecureRegistries)
	if err != nil {
		return nil, err
	}
	want, err := ParsePlatform(opts.Platform)
	if err != nil {
		return nil, err
	}
	if s.Snapshotter == nil || s.DB == nil {
		return nil, errors.New("image service: no snapshotter or metadata store")
	}
	store, err := s.Content(ctx)
	if err != nil {
		return nil, err
	}
	client, err := s.newRegistryClient(ctx, r.Context(), allowPlain, transport.PullScope)
	if err != nil {
		return nil, err
	}
	release, err := store.Lease(ctx)
	if err != nil {
		return nil, err
	}
	defer release() // also released early on failure: release is idempotent

	img, err := s.resolve(ctx, client, store, r, want, opts.Platform != "")
	if err != nil {
		return nil, err
	}
	decrypt := opts.Decrypt
	if decrypt == nil {
		decrypt = s.Decrypt
	}
	if err := checkLayers(img.manifest.Layers, decrypt); err != nil {
		return nil, err
	}

	created, err := s.unpackImage(ctx, store, img, decrypt, s.registryFetch(client, store))
	if err == nil {
		rec := s.newRecord(r.Name(), img)
		if err = s.record(ctx, store, rec); err == nil {
			return rec, nil
		}
	}
	release()
	s.dropLayers(ctx, store, created)
	// A pull that failed for what the registry sent (a wrong key, bad
	// content), not for a network fault or a cancel, leaves no ingest
	// files: those of layers it had started are dropped unless a writer
	// still holds them.
	if ctx.Err() == nil && !retryableError(err) {
		for _, l := range img.manifest.Layers {
			if derr := store.DiscardPartial(l.Digest); derr != nil {
				s.logger().WarnContext(ctx, "discard partial download", "layer", l.Digest, "error", derr)
			}
		}
	}
	return nil, err
}
