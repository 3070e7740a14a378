package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/stockade/stockade/backend"
	"github.com/stockade/stockade/config"
	"github.com/stockade/stockade/crypt"
	"github.com/stockade/stockade/engine"
	"github.com/stockade/stockade/image"
	"github.com/stockade/stockade/metadata"
	"github.com/stockade/stockade/ociruntime"
)

// imageService opens, once per command, what the image commands need: the
// metadata store, the snapshotter and the image service. The snapshotter
// is closed when the command ends (app.close).
func (a *app) imageService(c *cli.Context) (*image.Service, error) {
	if a.svc != nil {
		return a.svc, nil
	}
	db, err := metadata.Open(c.Context, filepath.Join(a.cfg.Root, metadata.FileName))
	if err != nil {
		return nil, err
	}
	snapshotters := backend.Snapshotters(backend.SystemHost())
	name := snapshotters.Choose(a.cfg, runtime.GOOS)
	sn, err := snapshotters.Open(c.Context, name, a.cfg)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() { sn.Close() })
	svc := &image.Service{
		DataRoot:           a.cfg.Root,
		DB:                 db,
		Snapshotter:        sn,
		SnapshotterName:    name,
		DefaultRegistry:    a.cfg.DefaultRegistry,
		InsecureRegistries: a.cfg.InsecureRegistries,
		Log:                a.log,
	}
	if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) && !c.Bool("quiet") {
		svc.Progress = f
	}
	a.svc = svc
	return svc, nil
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

// engine opens, once per command, the engine over the image service.
func (a *app) engine(c *cli.Context) (*engine.Engine, error) {
	if a.eng != nil {
		return a.eng, nil
	}
	svc, err := a.imageService(c)
	if err != nil {
		return nil, err
	}
	rt, err := a.runtime()
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the stockade binary: %w", err)
	}
	global := a.globalArgs(c)
	e := &engine.Engine{
		Root: a.cfg.Root, StateDir: a.cfg.State, DB: svc.DB, Images: svc,
		Snapshotter: svc.Snapshotter, SnapshotterName: svc.SnapshotterName,
		Runtime: rt, GOOS: runtime.GOOS, Log: a.log,
	}
	if e.Hooks, err = a.hooks(c, e); err != nil {
		return nil, err
	}
	e.MonitorCommand = func(id string, waitAttach bool) *exec.Cmd {
		args := append(append([]string{}, global...), "monitor")
		if waitAttach {
			args = append(args, "--wait-attach")
		}
		cmd := exec.Command(self, append(args, id)...)
		if f, err := os.OpenFile(filepath.Join(a.cfg.State, "monitor.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
			cmd.Stderr = f
		}
		return cmd
	}
	e.HealthCommand = func(id string) *exec.Cmd { return a.healthCommand(self, global, id) } // healthcheck.go
	a.eng = e
	return e, nil
}

// globalArgs repeats this invocation's effective global settings for a
// re-exec of stockade (the monitor).
func (a *app) globalArgs(c *cli.Context) []string {
	args := []string{"--root", a.cfg.Root, "--state", a.cfg.State, "--log-level", a.cfg.LogLevel, "--log-format", a.cfg.LogFormat}
	if a.cfg.Snapshotter != "" {
		args = append(args, "--snapshotter", a.cfg.Snapshotter)
	}
	if c.IsSet("config") {
		args = append(args, "--config", c.String("config"))
	}
	return args
}

// runtime returns the configured container runtime. A runtime whose
// program is missing is stockade's own error (125), found before anything
// is created.
func (a *app) runtime() (ociruntime.Runtime, error) {
	be, err := backend.Runtimes().Lookup(a.cfg.Runtime, runtime.GOOS)
	if err != nil {
		return nil, err
	}
	opts := backend.RuntimeOptions{Dir: filepath.Join(a.cfg.State, be.StateDir), Binary: a.cfg.Runc.Binary, Log: a.log}
	if be.Probe != nil {
		if err := be.Probe(opts); err != nil {
			return nil, err
		}
	}
	return be.Open(opts)
}
