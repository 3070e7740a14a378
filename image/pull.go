package image

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stockade/stockade/image/content"
)

// PullOptions tune Pull.
type PullOptions struct {
	// Platform is "os/arch[/variant]"; empty means the host's.
	Platform string
	// PlainHTTP allows plain HTTP to a registry that is not loopback.
	PlainHTTP bool
	// Decrypt decrypts encrypted layers; nil means Service.Decrypt.
	Decrypt DecryptFunc
}

// checkLayers fails, before anything is downloaded, for layers of unknown
// media types and for encrypted layers when there is no way to decrypt.
func checkLayers(layers []ocispec.Descriptor, decrypt DecryptFunc) error {
	for _, l := range layers {
		if _, enc, err := LayerMediaType(l.MediaType); err != nil {
			return layerError(l.Digest, err)
		} else if enc && decrypt == nil {
			return fmt.Errorf("layer %s is encrypted (%s); no keys given: %w", l.Digest, l.MediaType, ErrEncrypted)
		}
	}
	return nil
}

// dropLayers removes the layer snapshots a failed pull or import
// committed, if no image uses them and no other pull runs (which could be
// building on them). The caller must have released its lease.
func (s *Service) dropLayers(ctx context.Context, store *content.Store, created []digest.Digest) {
	if len(created) == 0 {
		return
	}
	cctx := context.WithoutCancel(ctx)
	unlock, err := store.LockExclusive(cctx, false)
	if err != nil {
		return
	}
	defer unlock()
	if err := s.collectSnapshots(cctx, created); err != nil {
		s.logger().WarnContext(ctx, "cannot remove the layer snapshots of a failed pull", "error", err)
	}
}

// newRecord builds the record of a resolved, unpacked image.
func (s *Service) newRecord(fullName string, img *resolved) *Record {
	size := img.target.Size + img.manifest.Config.Size
	for _, l := range img.manifest.Layers {
		size += l.Size
	}
	diffIDs := img.config.RootFS.DiffIDs
	enc, schemes := encryptionInfo(img.manifest.Layers)
	rec := &Record{
		Name:   fullName,
		ID:     img.manifest.Config.Digest,
		Target: img.target,
		Index:  img.index,
		Platform: NormalizePlatform(ocispec.Platform{
			OS:           img.config.OS,
			Architecture: img.config.Architecture,
			Variant:      img.config.Variant,
			OSVersion:    img.config.OSVersion,
		}),
		Layers:            img.manifest.Layers,
		DiffIDs:           diffIDs,
		ChainIDs:          img.chainIDs,
		Snapshotter:       s.SnapshotterName,
		Size:              size,
		Pulled:            time.Now().UTC(),
		Encrypted:         enc,
		EncryptionSchemes: schemes,
	}
	rec.Target.Platform = nil
	rec.Target.Annotations = nil
	if img.config.Created != nil {
		rec.Created = img.config.Created.UTC()
	}
	return rec
}

// layerError names the layer in err, without repeating the blob digest
// the content store already put at the front.
type layerErr struct {
	digest digest.Digest
	err    error
}

func layerError(d digest.Digest, err error) error {
	if err == nil {
		return nil
	}
	var le *layerErr
	if errors.As(err, &le) && le.digest == d {
		return err
	}
	return &layerErr{digest: d, err: err}
}

func (e *layerErr) Error() string {
	d := e.digest.String()
	msg := e.err.Error()
	// The content store and package crypt name the layer themselves.
	msg = strings.TrimPrefix(msg, "blob "+d+": ")
	msg = strings.TrimPrefix(msg, "layer "+d+": ")
	if rest, ok := strings.CutPrefix(msg, "encrypt layer "+d+": "); ok {
		msg = "encrypt: " + rest
	}
	return "layer " + d + ": " + msg
}

func (e *layerErr) Unwrap() error { return e.err }
