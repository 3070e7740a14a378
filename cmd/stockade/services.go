package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/stockade/stockade/config"
	"github.com/stockade/stockade/crypt"
	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/image"
)

// imageService opens, once per command, what the image commands need: the
// metadata store, the snapshotter and the image service
// (assemble.Parts.ImageService), with progress bars on a terminal.
func (a *app) imageService(c *cli.Context) (*image.Service, error) {
	if f, ok := a.stderr.(*os.File); ok && a.parts.Progress == nil && term.IsTerminal(int(f.Fd())) && !c.Bool("quiet") {
		a.parts.Progress = f
	}
	return a.parts.ImageService(c.Context)
}

// decrypter builds the DecryptFunc of a command from its --key and
// --dec-recipient flags (either may be absent from the command) and the
// configuration's decryption_keys_path, whose keys are always tried.
//
// The flags are read now: a bad --key is an error before anything is
// done. The keys directory and the key providers of
// OCICRYPT_KEYPROVIDER_CONFIG are read when the first encrypted layer
// needs them, so that images without encrypted layers never depend on
// them; their errors then name that layer. A decryption_keys_path that
// does not exist is an error only when it was configured (it differs from
// the default).
func (a *app) decrypter(c *cli.Context) (image.DecryptFunc, error) {
	keys, decs := c.StringSlice("key"), c.StringSlice("dec-recipient")
	var d *crypt.Decrypter
	if len(keys)+len(decs) > 0 {
		var err error
		if d, err = crypt.ParseKeys(keys, decs, "", false); err != nil {
			return nil, err
		}
	}
	dir := a.cfg.DecryptionKeysPath
	explicit := dir != config.Defaults(runtime.GOOS).DecryptionKeysPath
	log := a.log
	var (
		once     sync.Once
		setupErr error
	)
	setup := func() {
		if d == nil {
			if d, setupErr = crypt.ParseKeys(nil, nil, "", false); setupErr != nil {
				return
			}
		}
		if setupErr = d.AddKeysDir(dir, explicit); setupErr != nil {
			return
		}
		for _, skipped := range d.Skipped() {
			log.Debug("decryption_keys_path: file skipped", "file", skipped)
		}
		// containers/image names, in the encrypted options, the layer
		// before it recompressed it: a known, harmless mismatch (the
		// HMAC and the diff_id are checked), not worth a warning, nor
		// hashing the plaintext for, unless debugging.
		if log.Enabled(c.Context, slog.LevelDebug) {
			d.Warn = func(msg string) { log.Debug(msg) }
		}
	}
	return func(ctx context.Context, layer ocispec.Descriptor, r io.Reader) (io.Reader, error) {
		once.Do(setup)
		if setupErr != nil {
			return nil, fmt.Errorf("layer %s: %w", layer.Digest, setupErr)
		}
		return d.Decrypt(ctx, layer, r)
	}, nil
}

// recipients builds the EncryptFunc of the recipients given with flag
// (--encrypt for push, --recipient for image encrypt); nil when there are
// none.
func recipients(c *cli.Context, flag string) (image.EncryptFunc, error) {
	args := c.StringSlice(flag)
	if len(args) == 0 {
		return nil, nil
	}
	rc, err := crypt.ParseRecipients(args)
	if err != nil {
		if flag != "encrypt" {
			if rest, ok := strings.CutPrefix(err.Error(), "--encrypt "); ok {
				return nil, fmt.Errorf("--%s %s", flag, rest)
			}
		}
		return nil, err
	}
	return rc.Encrypt, nil
}

// engine opens, once per command, the engine over the image service
// (assemble.Parts.Engine; the NRI hooks come from nriHooks).
func (a *app) engine(c *cli.Context) (*engine.Engine, error) {
	if _, err := a.imageService(c); err != nil {
		return nil, err
	}
	return a.parts.Engine(c.Context)
}
