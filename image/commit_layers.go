//go:build !lean

package image

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	"github.com/stockade/stockade/image/content"
)

// AddLayer compresses the uncompressed layer tar r with c and stores it in
// the content store. It returns the layer's descriptor (with its OCI media
// type) and its diff id, the digest of the uncompressed tar. A blob that is
// stored already is kept. Until an image references the blob, the caller
// should hold a Lease.
func (s *Service) AddLayer(ctx context.Context, r io.Reader, c Compression) (ocispec.Descriptor, digest.Digest, error) {
	mt, ok := ociLayerMediaType[c]
	if !ok {
		return ocispec.Descriptor{}, "", fmt.Errorf("add layer: unknown compression %q", c)
	}
	store, err := s.Content(ctx)
	if err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("add layer: %w", err)
	}
	diff := digest.SHA256.Digester()
	plain := io.TeeReader(r, diff.Hash())
	var src io.Reader = plain
	if c != Uncompressed {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(compress(pw, plain, c)) }()
		defer pr.Close()
		src = pr
	}
	d, n, err := store.Ingest(ctx, src)
	if err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("add layer: %w", err)
	}
	return ocispec.Descriptor{MediaType: mt, Digest: d, Size: n}, diff.Digest(), nil
}

// compress writes r to w compressed with c.
func compress(w io.Writer, r io.Reader, c Compression) error {
	var zw io.WriteCloser
	switch c {
	case Gzip:
		zw = gzip.NewWriter(w)
	case Zstd:
		z, err := zstd.NewWriter(w)
		if err != nil {
			return err
		}
		zw = z
	default:
		return fmt.Errorf("unknown compression %q", c)
	}
	if _, err := io.Copy(zw, r); err != nil {
		zw.Close()
		return err
	}
	return zw.Close()
}

// NewImage writes the config and manifest of a new image (an OCI image
// manifest), unpacks its new layers into committed snapshots named by
// their chain ids (snapshots that exist are reused), records it under
// each name (or untagged) and returns its record (the first name's).
// Names are checked before anything is stored; on failure nothing of the
// new image stays but blobs, which the next collection removes.
func (s *Service) NewImage(ctx context.Context, opts NewImageOptions) (*Record, error) {
	rec, err := s.newImage(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("new image: %w", err)
	}
	return rec, nil
}

func (s *Service) newImage(ctx context.Context, opts NewImageOptions) (*Record, error) {
	if s.Snapshotter == nil || s.DB == nil {
		return nil, errors.New("image service: no snapshotter or metadata store")
	}
	if len(opts.Layers) != len(opts.DiffIDs) {
		return nil, fmt.Errorf("%d layers but %d diff ids", len(opts.Layers), len(opts.DiffIDs))
	}
	names := make([]string, 0, len(opts.Names))
	for _, n := range opts.Names {
		full, err := NormalizeName(n, s.DefaultRegistry)
		if err != nil {
			return nil, err
		}
		names = append(names, full)
	}
	for i, l := range opts.Layers {
		if _, _, err := LayerMediaType(l.MediaType); err != nil {
			return nil, layerError(l.Digest, err)
		}
		if err := opts.DiffIDs[i].Validate(); err != nil {
			return nil, fmt.Errorf("diff id %q: %w", opts.DiffIDs[i], err)
		}
	}
	store, release, err := s.leasedContent(ctx)
	if err != nil {
		return nil, err
	}
	defer release() // also released early on failure: release is idempotent

	cfg := opts.Config
	var layers []ocispec.Descriptor
	var diffIDs []digest.Digest
	platform := HostPlatform()
	if b := opts.Base; b != nil {
		if len(b.Layers) != len(b.DiffIDs) {
			return nil, fmt.Errorf("base image %s: %d layers but %d diff ids", b.Name, len(b.Layers), len(b.DiffIDs))
		}
		for _, l := range b.Layers {
			l.MediaType = ociMediaType(l.MediaType)
			layers = append(layers, l)
		}
		diffIDs = append(diffIDs, b.DiffIDs...)
		platform = b.Platform
	}
	for _, l := range opts.Layers {
		layers = append(layers, ocispec.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size, Annotations: l.Annotations})
		if !store.Has(ctx, l) {
			return nil, fmt.Errorf("layer %s: %w", l.Digest, content.ErrNotFound)
		}
	}
	diffIDs = append(diffIDs, opts.DiffIDs...)
	cfg.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: diffIDs}
	if cfg.OS == "" {
		cfg.OS = platform.OS
	}
	if cfg.Architecture == "" {
		cfg.Architecture, cfg.Variant = platform.Architecture, platform.Variant
	}
	if cfg.Created == nil {
		now := time.Now().UTC()
		cfg.Created = &now
	}
	if layers == nil {
		layers = []ocispec.Descriptor{}
	}
	cfgData, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	if len(opts.ConfigExtra) > 0 {
		if cfgData, err = addConfigExtra(cfgData, opts.ConfigExtra); err != nil {
			return nil, err
		}
	}
	cfgDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfgData), Size: int64(len(cfgData))}
	man := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfgDesc,
		Layers:    layers,
	}
	manData, err := json.Marshal(man)
	if err != nil {
		return nil, err
	}
	manDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(manData), Size: int64(len(manData))}
	if err := store.Put(ctx, cfgDesc, cfgData); err != nil && !errors.Is(err, content.ErrExists) {
		return nil, err
	}
	if err := store.Put(ctx, manDesc, manData); err != nil && !errors.Is(err, content.ErrExists) {
		return nil, err
	}
	img := &resolved{target: manDesc, manifest: man, config: cfg, chainIDs: ChainIDs(diffIDs)}
	// Base layers are unpacked already (their snapshots are reused), so
	// no decryption is asked for.
	created, err := s.unpackImage(ctx, store, img, nil, storedBlobs)
	fail := func(err error) (*Record, error) {
		release()
		s.dropLayers(ctx, store, created)
		return nil, err
	}
	if err != nil {
		return fail(err)
	}
	var first *Record
	if len(names) == 0 {
		rec := s.newRecord(cfgDesc.Digest.String(), img)
		rec.Untagged = true
		rec.Intermediate = opts.Intermediate
		if opts.Intermediate {
			// An untagged image of the same id stays listed.
			if old, err := s.Get(ctx, rec.Name); err == nil && old.Name == rec.Name && old.Untagged && !old.Intermediate {
				rec.Intermediate = false
			}
		}
		if err := s.record(ctx, store, rec); err != nil {
			return fail(err)
		}
		first = rec
	}
	for _, n := range names {
		rec := s.newRecord(n, img)
		if err := s.record(ctx, store, rec); err != nil {
			return fail(err)
		}
		if first == nil {
			first = rec
		}
	}
	return first, nil
}

// addConfigExtra adds extra to the "config" object of the config data.
func addConfigExtra(data []byte, extra map[string]json.RawMessage) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, err
	}
	inner := map[string]json.RawMessage{}
	if raw, ok := top["config"]; ok {
		if err := json.Unmarshal(raw, &inner); err != nil {
			return nil, err
		}
	}
	for k, v := range extra {
		inner[k] = v
	}
	raw, err := json.Marshal(inner)
	if err != nil {
		return nil, err
	}
	top["config"] = raw
	return json.Marshal(top)
}
