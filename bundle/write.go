package bundle

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ConfigName is the name of the spec file in a bundle.
const ConfigName = "config.json"

// Marshal returns spec as Write writes it: indented JSON with a final
// newline.
func Marshal(spec *specs.Spec) ([]byte, error) {
	if spec == nil {
		return nil, errors.New("marshal spec: nil spec")
	}
	data, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return nil, fmt.Errorf("marshal spec: %w", err)
	}
	return append(data, '\n'), nil
}

// Write writes spec as bundleDir/config.json, atomically: the JSON goes to
// a temporary file in bundleDir, is synced, and is renamed over
// config.json, and the directory is synced. Readers see the old file or
// the new one, never a part; nothing is left behind on failure. The file
// is mode 0600: the environment may hold secrets. bundleDir must exist.
func Write(bundleDir string, spec *specs.Spec) error {
	return write(bundleDir, spec, true)
}

// WriteUnsynced is Write without the syncs, for a bundle that need not
// outlive a crash of the host: that of a container removed at its exit
// (--rm), whose root is mounted volatile and cannot run again after one.
// It is as atomic for readers; after a crash the file may be empty or
// missing.
func WriteUnsynced(bundleDir string, spec *specs.Spec) error {
	return write(bundleDir, spec, false)
}

func write(bundleDir string, spec *specs.Spec, sync bool) (err error) {
	data, err := Marshal(spec)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(bundleDir, "."+ConfigName+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", ConfigName, err)
	}
	renamed := false
	defer func() {
		if err != nil && !renamed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", ConfigName, err)
	}
	if err = tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("write %s: %w", ConfigName, err)
	}
	if sync {
		if err = tmp.Sync(); err != nil {
			return fmt.Errorf("write %s: sync: %w", ConfigName, err)
		}
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", ConfigName, err)
	}
	if err = os.Rename(tmp.Name(), filepath.Join(bundleDir, ConfigName)); err != nil {
		return fmt.Errorf("write %s: %w", ConfigName, err)
	}
	renamed = true
	if !sync {
		return nil
	}
	// The rename is done: a failure to sync the directory is reported but
	// must not remove anything.
	if d, derr := os.Open(bundleDir); derr == nil {
		serr := d.Sync()
		d.Close()
		if serr != nil {
			return fmt.Errorf("write %s: sync %s: %w", ConfigName, bundleDir, serr)
		}
	}
	return nil
}
