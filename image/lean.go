//go:build lean

package image

import (
	"context"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The lean build of stockade (-tags lean) links no registry client and
// no layer pipeline: no HTTP, TLS or X.509, no gzip or zstd, no progress
// bars, which every command would pay for in its start-up (package
// initialisation and size), `run` above all. What needs them fails with
// ErrNotInBuild, and the command line runs again as stockade-full.

// Pull is not in the lean build: it fails with ErrNotInBuild.
func (s *Service) Pull(_ context.Context, ref string, _ PullOptions) (*Record, error) {
	return nil, fmt.Errorf("pull %s: %w", ref, ErrNotInBuild)
}

// Push is not in the lean build: it fails with ErrNotInBuild.
func (s *Service) Push(_ context.Context, nameOrID, _ string, _ PushOptions) error {
	return fmt.Errorf("push %s: %w", nameOrID, ErrNotInBuild)
}

// RegistryHost is not in the lean build: it fails with ErrNotInBuild.
func RegistryHost(s string) (name.Registry, error) {
	return name.Registry{}, fmt.Errorf("registry %s: %w", s, ErrNotInBuild)
}

// Login is not in the lean build: it fails with ErrNotInBuild.
func (s *Service) Login(_ context.Context, reg name.Registry, _, _ string) (string, error) {
	return "", fmt.Errorf("login %s: %w", reg.RegistryStr(), ErrNotInBuild)
}

// Logout is not in the lean build: it fails with ErrNotInBuild.
func (s *Service) Logout(reg name.Registry) (string, error) {
	return "", fmt.Errorf("logout %s: %w", reg.RegistryStr(), ErrNotInBuild)
}

// AddLayer is not in the lean build: it fails with ErrNotInBuild.
func (s *Service) AddLayer(context.Context, io.Reader, Compression) (ocispec.Descriptor, digest.Digest, error) {
	return ocispec.Descriptor{}, "", fmt.Errorf("add a layer: %w", ErrNotInBuild)
}

// NewImage is not in the lean build: it fails with ErrNotInBuild.
func (s *Service) NewImage(context.Context, NewImageOptions) (*Record, error) {
	return nil, fmt.Errorf("new image: %w", ErrNotInBuild)
}

// Import is not in the lean build: it fails with ErrNotInBuild.
func (s *Service) Import(_ context.Context, tarFile string) ([]Record, error) {
	return nil, fmt.Errorf("import %s: %w", tarFile, ErrNotInBuild)
}

// Export is not in the lean build: it fails with ErrNotInBuild.
func (s *Service) Export(_ context.Context, name, _ string) error {
	return fmt.Errorf("export %s: %w", name, ErrNotInBuild)
}

// EncryptImage is not in the lean build: it fails with ErrNotInBuild.
func (s *Service) EncryptImage(_ context.Context, src, _ string, _ EncryptFunc, _ []int) (*Record, error) {
	return nil, fmt.Errorf("encrypt %s: %w", src, ErrNotInBuild)
}

// DecryptImage is not in the lean build: it fails with ErrNotInBuild.
func (s *Service) DecryptImage(_ context.Context, src, _ string, _ DecryptFunc) (*Record, error) {
	return nil, fmt.Errorf("decrypt %s: %w", src, ErrNotInBuild)
}
