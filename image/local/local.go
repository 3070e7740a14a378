// Package local is the part of the image store that needs no registry:
// an image's record, its config blob in the content store and the
// content store's lease. The engine works with it (engine.ImageStore) and
// a container's monitor has nothing more (internal/assemble), so that
// neither links the registry client, the compressors and the progress
// bars that package image does (importing image costs a program 3.5 ms
// of CPU and 184 page faults at every start here).
package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stockade/stockade/image/content"
)

// TempViewPrefix starts the keys of read-only views made for a while (the
// image side of `diff` and `commit`): collection removes such views, so
// one that a killed process left does not pin its layer. Hold a Lease
// while using one.
const TempViewPrefix = "tmpview-"

// MaxConfigSize bounds the image config blobs read.
const MaxConfigSize = 32 << 20

// Record is what stockade knows about one image name. It is stored as JSON
// in the metadata bucket metadata.BucketImages under its full name.
type Record struct {
	// Name is the full normalised name, e.g. "localhost:5000/demo:latest".
	Name string `json:"name"`
	// ID is the digest of the image config.
	ID digest.Digest `json:"id"`
	// Target is the descriptor of the platform-specific image manifest.
	Target ocispec.Descriptor `json:"target"`
	// Index is the descriptor of the index the manifest was chosen from,
	// when the reference named an index.
	Index *ocispec.Descriptor `json:"index,omitempty"`
	// Platform is the image's platform, from its config.
	Platform ocispec.Platform `json:"platform"`
	// Layers are the layer descriptors of the manifest, base first.
	Layers []ocispec.Descriptor `json:"layers"`
	// DiffIDs are the digests of the uncompressed layers (rootfs.diff_ids).
	DiffIDs []digest.Digest `json:"diffIDs"`
	// ChainIDs are the names of the committed layer snapshots, one per
	// layer; the last one is the image's root file system.
	ChainIDs []digest.Digest `json:"chainIDs"`
	// Snapshotter is the name of the snapshotter holding the layers.
	Snapshotter string `json:"snapshotter"`
	// Size is the size of the image's content: manifest, config and
	// (compressed) layers.
	Size int64 `json:"size"`
	// Created is the creation time from the image config.
	Created time.Time `json:"created,omitzero"`
	// Pulled is when the image was pulled, imported or tagged.
	Pulled time.Time `json:"pulled"`
	// Encrypted tells whether any layer is OCI-crypt encrypted.
	Encrypted bool `json:"encrypted,omitempty"`
	// EncryptionSchemes lists the key-wrapping schemes of the encrypted
	// layers (jwe, pkcs7, pgp, pkcs11, provider.NAME).
	EncryptionSchemes []string `json:"encryptionSchemes,omitempty"`
	// Untagged marks an image without a name (a commit or build without
	// -t, docker's <none>): its Name is its ID ("sha256:..."), and it is
	// reached by id. Giving it a name (Tag) drops the untagged record.
	Untagged bool `json:"untagged,omitempty"`
	// Intermediate marks an untagged image kept as build cache: it keeps
	// its layers from collection, List does not show it and Prune
	// removes it.
	Intermediate bool `json:"intermediate,omitempty"`
}

// DisplayName is the name to show for the image: its Name, or "<none>"
// for an untagged image.
func (r *Record) DisplayName() string {
	if r.Untagged {
		return "<none>"
	}
	return r.Name
}

// ShortID returns the first 12 hex digits of the ID.
func (r *Record) ShortID() string {
	e := r.ID.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return e
}

// TopChainID returns the chain id of the top layer, the parent of a
// container's root file system ("" for an image without layers).
func (r *Record) TopChainID() string {
	if len(r.ChainIDs) == 0 {
		return ""
	}
	return r.ChainIDs[len(r.ChainIDs)-1].String()
}

// ChainIDs computes the chain ids of a stack of layers from their diff ids:
// ChainID(L0) = DiffID(L0), ChainID(Ln) = sha256(ChainID(Ln-1) + " " +
// DiffID(Ln)).
func ChainIDs(diffIDs []digest.Digest) []digest.Digest {
	out := make([]digest.Digest, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		sum := sha256.Sum256([]byte(out[i-1].String() + " " + d.String()))
		out[i] = digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(sum[:]))
	}
	return out
}

// Store is the content store under a data root, with the image configs
// in it.
type Store struct {
	// DataRoot is stockade's data root; the blobs are in DataRoot/content.
	DataRoot string
}

// ContentRoot returns the directory of the OCI layout holding the blobs.
func (s Store) ContentRoot() string { return filepath.Join(s.DataRoot, "content") }

// Content opens the content store.
func (s Store) Content(ctx context.Context) (*content.Store, error) {
	if s.DataRoot == "" {
		return nil, errors.New("image service: no data root")
	}
	return content.Open(ctx, s.ContentRoot())
}

// ConfigBytes reads the config blob of the image img from the content
// store.
func (s Store) ConfigBytes(ctx context.Context, img *Record) ([]byte, error) {
	store, err := s.Content(ctx)
	if err != nil {
		return nil, err
	}
	size, err := store.Info(ctx, img.ID)
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", img.Name, err)
	}
	data, err := store.ReadAll(ctx, ocispec.Descriptor{Digest: img.ID, MediaType: ocispec.MediaTypeImageConfig, Size: size}, MaxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", img.Name, err)
	}
	return data, nil
}

// Config reads the config of the image img from the content store.
func (s Store) Config(ctx context.Context, img *Record) (*ocispec.Image, error) {
	data, err := s.ConfigBytes(ctx, img)
	if err != nil {
		return nil, err
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("image %s: config: %w", img.Name, err)
	}
	return &cfg, nil
}

// Lease keeps blobs from being collected until the returned function is
// called (content.Store.Lease).
func (s Store) Lease(ctx context.Context) (func(), error) {
	store, err := s.Content(ctx)
	if err != nil {
		return nil, err
	}
	return store.Lease(ctx)
}
