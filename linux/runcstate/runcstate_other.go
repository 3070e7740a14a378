//go:build !linux

package runcstate

import (
	"io"
	"syscall"
)

// Load is Linux's: elsewhere every container is left to runc.
func Load(root, id string) (*Container, error) { return nil, ErrFallBack }

// State is Linux's.
func (c *Container) State(io.Writer) error { return ErrFallBack }

// Start is Linux's.
func (c *Container) Start() error { return ErrFallBack }

// Kill is Linux's.
func (c *Container) Kill(syscall.Signal) error { return ErrFallBack }

// Delete is Linux's.
func (c *Container) Delete() error { return ErrFallBack }

// Pause is Linux's.
func (c *Container) Pause() error { return ErrFallBack }

// Resume is Linux's.
func (c *Container) Resume() error { return ErrFallBack }
