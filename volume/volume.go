// Package volume is stockade's named volumes: directories (or ZFS
// datasets) that outlive the containers that mount them. Volumes are
// records in the metadata store's volumes bucket; a Driver makes their
// storage; Manager is the engine hook that resolves a container's volume
// mounts when it is created, fills new volumes from the image (docker's
// copy-up) before its first start, and removes its anonymous volumes with
// it when asked.
package volume

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// HookName is the volume hook's name and its key in a container's
// extensions.
const HookName = "volume"

// Volume is the record of one volume.
type Volume struct {
	// Name is unique among volumes; an anonymous volume's name is 64 hex
	// digits.
	Name string `json:"name"`
	// Driver is the name of the driver that made it: "local" or "zfs".
	Driver string `json:"driver"`
	// Mountpoint is the host directory the volume's files are in.
	Mountpoint string `json:"mountpoint"`
	// CreatedAt is when it was made.
	CreatedAt time.Time `json:"createdAt"`
	// Labels are the user's, from --label.
	Labels map[string]string `json:"labels,omitempty"`
	// Options are the driver options it was made with (--opt).
	Options map[string]string `json:"options,omitempty"`
	// Anonymous marks a volume made for an image's VOLUME path (or a -v
	// with no name); Container is the id of the container it was made
	// for.
	Anonymous bool   `json:"anonymous,omitempty"`
	Container string `json:"container,omitempty"`
	// Removing is set while its storage is being removed: a container
	// created meanwhile does not get it.
	Removing bool `json:"removing,omitempty"`
}

// Errors the package wraps.
var (
	ErrNotFound = errors.New("no such volume")
	ErrExists   = errors.New("volume already exists")
	ErrInUse    = errors.New("volume is in use")
)

var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$`) }) // compiled on first use, not in every command's init

// ValidateName checks a volume name: docker's alphabet, letters, digits,
// '_', '.', '-', not starting with a punctuation mark, at most 128 bytes.
func ValidateName(name string) error {
	if !nameRE().MatchString(name) {
		return fmt.Errorf("volume name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] allowed, at most 128 characters", name)
	}
	return nil
}

// NewAnonymousName returns a random name of 64 hex digits, as docker
// names anonymous volumes.
func NewAnonymousName() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("volume name: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Driver makes and removes the storage of volumes.
type Driver interface {
	// Name is the driver's name in volume records ("local", "zfs").
	Name() string
	// CheckOptions refuses options the driver does not know or values it
	// cannot take, naming them; it makes nothing.
	CheckOptions(opts map[string]string) error
	// Create makes the storage of the volume name and returns its host
	// directory. It is idempotent.
	Create(ctx context.Context, name string, opts map[string]string) (string, error)
	// Remove removes the storage of the volume name and all its files; a
	// volume without storage is not an error.
	Remove(ctx context.Context, name string) error
}

// ParseOptions reads --opt values, each KEY=VALUE.
func ParseOptions(in []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range in {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--opt %q: want KEY=VALUE", kv)
		}
		out[k] = v
	}
	return out, nil
}

// ParseLabels reads --label values, each KEY=VALUE or KEY.
func ParseLabels(in []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range in {
		k, v, _ := strings.Cut(kv, "=")
		if k == "" {
			return nil, fmt.Errorf("--label %q: want KEY=VALUE", kv)
		}
		out[k] = v
	}
	return out, nil
}

// unknownOptions returns an error naming the first option not in known.
func unknownOptions(driver string, opts map[string]string, known ...string) error {
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		if !slices.Contains(known, k) {
			if len(known) == 0 {
				return fmt.Errorf("--opt %s=%s: unknown option (the %s volume driver takes none)", k, opts[k], driver)
			}
			return fmt.Errorf("--opt %s=%s: unknown option (the %s volume driver knows %s)", k, opts[k], driver, strings.Join(known, ", "))
		}
	}
	return nil
}
