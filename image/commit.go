package image

import (
	"context"
	"encoding/json"
	"fmt"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ParseCompression reads a --compression value: "gzip", "zstd" or "none"
// ("" is gzip, what every registry and runtime reads).
func ParseCompression(s string) (Compression, error) {
	switch Compression(s) {
	case "", Gzip:
		return Gzip, nil
	case Zstd, Uncompressed:
		return Compression(s), nil
	}
	return "", fmt.Errorf("compression %q: want gzip, zstd or none", s)
}

// Lease keeps the blobs AddLayer stores from being collected until the
// returned function is called: hold it from the first AddLayer until
// NewImage has recorded the image that references them.
func (s *Service) Lease(ctx context.Context) (func(), error) { return s.localStore().Lease(ctx) }

// NewImageOptions describe an image made here (commit, build).
type NewImageOptions struct {
	// Base is the image the new one builds on; nil means scratch.
	Base *Record
	// Layers are the new layers on top of Base's, base first, already in
	// the content store (AddLayer); DiffIDs are their diff ids.
	Layers  []ocispec.Descriptor
	DiffIDs []digest.Digest
	// Config is the full image config. NewImage sets its RootFS from Base
	// and Layers, and its OS and Architecture (and Variant) from Base, or
	// the host, when they are empty, and Created when it is nil.
	Config ocispec.Image
	// ConfigExtra are members added as they are to the config's "config"
	// object: Docker's Healthcheck, OnBuild and Shell, which
	// ocispec.ImageConfig lacks (build).
	ConfigExtra map[string]json.RawMessage
	// Names are the names to give the image. Without names the image is
	// untagged (Record.Untagged): `images` lists it as <none>, and it is
	// reached by id.
	Names []string
	// Intermediate makes an image without names build cache
	// (Record.Intermediate): it keeps its layers, `images` does not list
	// it, and Prune removes it.
	Intermediate bool
}

// Prune removes intermediate (build cache) images, and with dangling
// also the untagged ones, except those whose id inUse reports (the
// images of containers), then collects what no image uses. It returns the
// records it removed.
func (s *Service) Prune(ctx context.Context, dangling bool, inUse func(id digest.Digest) bool) ([]Record, error) {
	all, err := s.ListAll(ctx)
	if err != nil {
		return nil, err
	}
	var victims []string
	var removed []Record
	for _, r := range all {
		if !r.Untagged || (!r.Intermediate && !dangling) || (inUse != nil && inUse(r.ID)) {
			continue
		}
		victims = append(victims, r.Name)
		removed = append(removed, r)
	}
	if len(victims) == 0 {
		return nil, nil
	}
	if err := s.Remove(ctx, victims...); err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	return removed, nil
}

// ociConfigMembers are the members of a config's "config" object that
// ocispec.ImageConfig holds.
var ociConfigMembers = map[string]bool{
	"User": true, "ExposedPorts": true, "Env": true, "Entrypoint": true, "Cmd": true,
	"Volumes": true, "WorkingDir": true, "Labels": true, "StopSignal": true, "ArgsEscaped": true,
}

// ConfigExtra returns the members of img's config "config" object that
// ocispec.ImageConfig lacks (Docker's Healthcheck, OnBuild, Shell...), to
// carry them over into an image made from it (NewImageOptions.ConfigExtra)
// as docker's commit does.
func (s *Service) ConfigExtra(ctx context.Context, img *Record) (map[string]json.RawMessage, error) {
	data, err := s.ConfigBytes(ctx, img)
	if err != nil {
		return nil, err
	}
	var top struct {
		Config map[string]json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("image %s: config: %w", img.Name, err)
	}
	var extra map[string]json.RawMessage
	for k, v := range top.Config {
		if ociConfigMembers[k] || string(v) == "null" {
			continue
		}
		if extra == nil {
			extra = map[string]json.RawMessage{}
		}
		extra[k] = v
	}
	return extra, nil
}
