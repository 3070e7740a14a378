//go:build !lean

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"text/tabwriter"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/urfave/cli/v2"

	"github.com/stockade/stockade/config"
	"github.com/stockade/stockade/crypt"
	"github.com/stockade/stockade/image"
)

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

// layerInfo is `image layerinfo [--format json] IMAGE`.
func (a *app) layerInfo(c *cli.Context) error {
	asJSON, err := checkFormat(c)
	if err != nil {
		return err
	}
	svc, err := a.imageService(c)
	if err != nil {
		return err
	}
	rec, err := svc.Get(c.Context, c.Args().First())
	if err != nil {
		return fmt.Errorf("image layerinfo: %w", err)
	}
	out := make([]layerInfoEntry, 0, len(rec.Layers))
	for i, l := range rec.Layers {
		info := crypt.LayerInfo(l)
		e := layerInfoEntry{Index: i, Digest: l.Digest.String(), MediaType: l.MediaType, Size: l.Size,
			Encrypted: info.Encrypted, Schemes: info.Schemes, WrappedKeys: info.WrappedKeys, PGPKeyIDs: info.PGPKeyIDs}
		if e.Schemes == nil {
			e.Schemes = []string{}
		}
		out = append(out, e)
	}
	if asJSON {
		return writeJSON(a.stdout, out)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "INDEX\tDIGEST\tMEDIA TYPE\tSIZE\tENCRYPTED\tSCHEMES")
	for _, e := range out {
		enc, schemes := "no", "-"
		if e.Encrypted {
			enc = "yes"
		}
		if len(e.Schemes) > 0 {
			var parts []string
			for _, sc := range e.Schemes {
				if n := e.WrappedKeys[sc]; n > 1 {
					sc += fmt.Sprintf(" (%d keys)", n)
				}
				parts = append(parts, sc)
			}
			schemes = strings.Join(parts, ", ")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Index, shortLayerDigest(e.Digest), e.MediaType, humanSize(e.Size), enc, schemes)
	}
	return tw.Flush()
}

// layerInfoEntry is one line of `image layerinfo`.
type layerInfoEntry struct {
	Index     int    `json:"index"`
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
	Encrypted bool   `json:"encrypted"`
	// Schemes are the key-wrap schemes whose keys can open the layer.
	Schemes []string `json:"schemes"`
	// WrappedKeys counts the wrapped copies of the layer key per scheme.
	WrappedKeys map[string]int `json:"wrappedKeys,omitempty"`
	// PGPKeyIDs are the OpenPGP keys the layer key is wrapped for.
	PGPKeyIDs []string `json:"pgpKeyIDs,omitempty"`
}

// shortLayerDigest shortens "sha256:<64 hex>" to "sha256:<12 hex>".
func shortLayerDigest(d string) string {
	if alg, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return alg + ":" + hex[:12]
	}
	return d
}
