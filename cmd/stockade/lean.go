//go:build lean

// The lean build of stockade (-tags lean, what `make build` installs as
// stockade): every command and flag, but what needs NRI, OCI-crypt, the
// image builder, buildkit's instruction parser, a registry (pull, push,
// login, logout, a run or create of an image not pulled yet: the image
// package's lean build fails them with image.ErrNotInBuild), the layer
// pipeline (image import, export, encrypt and decrypt, the same way;
// commit first thing, before it pauses the container) or the network
// name server (`network dns`)
// runs again as stockade-full (errNeedsFull, execFull). Those would cost
// every command, `run` above all, their package initialisation and their
// size: HTTP, TLS and X.509, the registry client, gzip and zstd, the
// progress bars, a DNS library.

package main

import (
	"context"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/image"
)

// leanBuild says which build this is.
const leanBuild = true

// nriHooks: none. setup hands a command over to stockade-full when the
// configuration turns NRI on.
func (a *app) nriHooks(*engine.Engine) ([]engine.Hook, error) { return nil, nil }

// nriInfo is NRI turned off, as setup guarantees here.
func (a *app) nriInfo(context.Context) nriInfo {
	return nriInfo{Plugins: []string{}, V010Plugins: []string{}}
}

func (a *app) service(*cli.Context) error { return errNeedsFull }

func (a *app) build(*cli.Context) error { return errNeedsFull }

func (a *app) layerInfo(*cli.Context) error { return errNeedsFull }

// networkDNS: the name server links a DNS library (and TLS with it).
func (a *app) networkDNS(*cli.Context) error { return errNeedsFull }

// decrypter: keys on the command line need stockade-full at once; without
// them, so does the first encrypted layer met (the keys directory of the
// configuration is read then).
func (a *app) decrypter(c *cli.Context) (image.DecryptFunc, error) {
	if len(c.StringSlice("key"))+len(c.StringSlice("dec-recipient")) > 0 {
		return nil, errNeedsFull
	}
	return func(_ context.Context, layer ocispec.Descriptor, r io.Reader) (io.Reader, error) {
		if _, encrypted, _ := image.LayerMediaType(layer.MediaType); encrypted {
			return nil, errNeedsFull
		}
		return r, nil
	}, nil
}

func recipients(c *cli.Context, flag string) (image.EncryptFunc, error) {
	if len(c.StringSlice(flag)) > 0 {
		return nil, errNeedsFull
	}
	return nil, nil
}

func parseChanges(changes []string) ([]struct{}, error) {
	if len(changes) > 0 {
		return nil, errNeedsFull
	}
	return nil, nil
}

func applyChanges(*ocispec.ImageConfig, []struct{}) error { return nil }
