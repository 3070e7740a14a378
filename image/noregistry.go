//go:build lean

package image

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
)

// The lean build of stockade (-tags lean) links no registry client: no
// HTTP, TLS or X.509, which every command would pay for in its start-up
// (package initialisation and size), `run` above all. What talks to a
// registry fails with ErrNoRegistry, and the command line runs again as
// stockade-full, which has the client.

// Pull is not in the lean build: it fails with ErrNoRegistry.
func (s *Service) Pull(_ context.Context, ref string, _ PullOptions) (*Record, error) {
	return nil, fmt.Errorf("pull %s: %w", ref, ErrNoRegistry)
}

// Push is not in the lean build: it fails with ErrNoRegistry.
func (s *Service) Push(_ context.Context, nameOrID, _ string, _ PushOptions) error {
	return fmt.Errorf("push %s: %w", nameOrID, ErrNoRegistry)
}

// RegistryHost is not in the lean build: it fails with ErrNoRegistry.
func RegistryHost(s string) (name.Registry, error) {
	return name.Registry{}, fmt.Errorf("registry %s: %w", s, ErrNoRegistry)
}

// Login is not in the lean build: it fails with ErrNoRegistry.
func (s *Service) Login(_ context.Context, reg name.Registry, _, _ string) (string, error) {
	return "", fmt.Errorf("login %s: %w", reg.RegistryStr(), ErrNoRegistry)
}

// Logout is not in the lean build: it fails with ErrNoRegistry.
func (s *Service) Logout(reg name.Registry) (string, error) {
	return "", fmt.Errorf("logout %s: %w", reg.RegistryStr(), ErrNoRegistry)
}
