// Package image pulls, stores, unpacks, pushes, imports and exports OCI
// and Docker (v2 schema 2) images.
//
// Blobs live in an OCI image layout under <DataRoot>/content (package
// image/content); image records live in the metadata store (bucket
// metadata.BucketImages); layers are unpacked into committed snapshots of
// the configured Snapshotter, named by their chain ids. Registries are
// reached with go-containerregistry's transport (token and basic auth,
// credentials from authn.DefaultKeychain), with retries and resumable blob
// downloads on top.
package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"

	"github.com/stockade/stockade/image/content"
	"github.com/stockade/stockade/image/local"
	"github.com/stockade/stockade/metadata"
	"github.com/stockade/stockade/snapshot"
)

// ErrNotFound is wrapped by errors about image names or ids that are not
// known.
var ErrNotFound = errors.New("image not found")

// ErrNotInBuild is the error of what the lean build (-tags lean) leaves
// out: the registry client (Pull, Push, Login, Logout, RegistryHost) and
// the layer pipeline (compression, unpacking, progress bars: AddLayer,
// NewImage, Import, Export, EncryptImage, DecryptImage). The lean build
// of stockade runs stockade-full for those.
var ErrNotInBuild = errors.New("not in this build of the image package (-tags lean)")

// ErrEncrypted is wrapped by the error of a pull that meets an encrypted
// layer and has no way to decrypt it.
var ErrEncrypted = errors.New("layer is encrypted")

// DecryptFunc turns the stream of an encrypted layer (media type ending in
// +encrypted) into the stream of the layer it wraps, still compressed as
// the media type without +encrypted says. It is the seam where OCI-crypt
// plugs in; the descriptor carries the wrapped keys in its annotations.
type DecryptFunc func(ctx context.Context, layer ocispec.Descriptor, r io.Reader) (io.Reader, error)

// Service manages images. Its fields are set once before use; it is safe
// for concurrent use, and several processes may use the same DataRoot.
type Service struct {
	// DataRoot is stockade's data directory; blobs go to DataRoot/content.
	DataRoot string
	// DB is the metadata store holding image records.
	DB *metadata.DB
	// Snapshotter holds the unpacked layers; SnapshotterName is recorded
	// with each image.
	Snapshotter     snapshot.Snapshotter
	SnapshotterName string
	// DefaultRegistry is the registry of references without a host;
	// empty means Docker Hub.
	DefaultRegistry string
	// InsecureRegistries may be reached over plain HTTP or with
	// unverified TLS: host, host:port or CIDR. Loopback registries always
	// may.
	InsecureRegistries []string
	// Log receives debug and warning messages; nil discards them.
	Log *slog.Logger
	// Progress receives progress bars when it is a terminal; nil or
	// anything else means no bars.
	Progress io.Writer
	// Keychain finds registry credentials; nil means authn.DefaultKeychain
	// (~/.docker/config.json, $REGISTRY_AUTH_FILE, ...).
	Keychain authn.Keychain
	// Decrypt decrypts encrypted layers when a pull gives no DecryptFunc
	// of its own; nil means encrypted layers cannot be pulled.
	Decrypt DecryptFunc

	// retry overrides defaultRetry (tests).
	retry *retryPolicy
	// pullJobs bounds parallel blob downloads; 0 means 3.
	pullJobs int
}

// opError is the error of one Service operation: "<op>: <reason>" on one
// line, whatever the registry put in its error bodies.
type opErr struct {
	op  string
	err error
}

func opError(op string, err error) error { return &opErr{op: op, err: err} }

func (e *opErr) Error() string {
	return e.op + ": " + strings.Join(strings.Fields(e.err.Error()), " ")
}

func (e *opErr) Unwrap() error { return e.err }

func (s *Service) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// ContentRoot returns the directory of the OCI layout holding the blobs.
func (s *Service) ContentRoot() string { return s.localStore().ContentRoot() }

// Content opens the service's content store.
func (s *Service) Content(ctx context.Context) (*content.Store, error) {
	return s.localStore().Content(ctx)
}

// leasedContent opens the content store and takes a lease on it, so that
// no garbage collection removes the blobs an operation is writing or
// reading; release is idempotent.
func (s *Service) leasedContent(ctx context.Context) (store *content.Store, release func(), err error) {
	if store, err = s.Content(ctx); err != nil {
		return nil, nil, err
	}
	if release, err = store.Lease(ctx); err != nil {
		return nil, nil, err
	}
	return store, release, nil
}

// localStore is the registry-free part of the service.
func (s *Service) localStore() local.Store { return local.Store{DataRoot: s.DataRoot} }

// List returns the image records, sorted by name, without the
// intermediate (build cache) ones; see ListAll.
func (s *Service) List(ctx context.Context) ([]Record, error) {
	return s.list(ctx, false)
}

// ListAll returns all image records, sorted by name, intermediate ones
// too.
func (s *Service) ListAll(ctx context.Context) ([]Record, error) {
	return s.list(ctx, true)
}

func (s *Service) list(ctx context.Context, all bool) ([]Record, error) {
	var out []Record
	err := s.DB.View(ctx, func(tx *bolt.Tx) error {
		return metadata.ForEachJSON(tx, metadata.BucketImages, func(_ string, r *Record) error {
			if r.Intermediate && !all {
				return nil
			}
			out = append(out, *r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Get finds an image by name (normalised as a reference) or by a unique
// prefix of its ID (with or without "sha256:"). Errors wrap ErrNotFound.
func (s *Service) Get(ctx context.Context, nameOrID string) (*Record, error) {
	var found *Record
	err := s.DB.View(ctx, func(tx *bolt.Tx) error {
		r, _, err := s.lookup(tx, nameOrID)
		found = r
		return err
	})
	if err != nil {
		return nil, err
	}
	return found, nil
}

// lookup resolves nameOrID inside a transaction, and tells whether it was
// found by name (rather than by id).
func (s *Service) lookup(tx *bolt.Tx, nameOrID string) (*Record, bool, error) {
	if full, err := NormalizeName(nameOrID, s.DefaultRegistry); err == nil {
		var r Record
		err := metadata.GetJSON(tx, metadata.BucketImages, full, &r)
		if err == nil {
			return &r, true, nil
		}
		if !errors.Is(err, metadata.ErrNotFound) {
			return nil, false, err
		}
	}
	if strings.HasPrefix(nameOrID, "sha256:") {
		// An untagged image's record is keyed by its id.
		var r Record
		if err := metadata.GetJSON(tx, metadata.BucketImages, nameOrID, &r); err == nil {
			return &r, true, nil
		}
	}
	prefix := strings.TrimPrefix(strings.ToLower(nameOrID), "sha256:")
	if len(prefix) == 0 || strings.Trim(prefix, "0123456789abcdef") != "" {
		return nil, false, fmt.Errorf("image %q: %w", nameOrID, ErrNotFound)
	}
	var match *Record
	ambiguous := false
	err := metadata.ForEachJSON(tx, metadata.BucketImages, func(_ string, r *Record) error {
		if !strings.HasPrefix(r.ID.Encoded(), prefix) {
			return nil
		}
		if match != nil && match.ID != r.ID {
			ambiguous = true
		}
		if match == nil || r.Name < match.Name {
			match = r
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, false, err
	case ambiguous:
		return nil, false, fmt.Errorf("image id prefix %q is ambiguous", nameOrID)
	case match == nil:
		return nil, false, fmt.Errorf("image %q: %w", nameOrID, ErrNotFound)
	}
	return match, false, nil
}

// Tag gives the image src the additional name dst (replacing whatever
// image dst named before).
func (s *Service) Tag(ctx context.Context, src, dst string) error {
	full, err := NormalizeName(dst, s.DefaultRegistry)
	if err != nil {
		return fmt.Errorf("tag %s %s: %w", src, dst, err)
	}
	rec, err := s.Get(ctx, src)
	if err != nil {
		return fmt.Errorf("tag %s %s: %w", src, dst, err)
	}
	store, err := s.Content(ctx)
	if err != nil {
		return fmt.Errorf("tag %s %s: %w", src, dst, err)
	}
	nr := *rec
	nr.Name = full
	nr.Untagged, nr.Intermediate = false, false
	nr.Pulled = time.Now().UTC()
	if err := s.record(ctx, store, &nr); err != nil {
		return fmt.Errorf("tag %s %s: %w", src, dst, err)
	}
	return nil
}

// record lists the image in index.json and stores its record.
func (s *Service) record(ctx context.Context, store *content.Store, r *Record) error {
	target := r.Target
	target.Platform = &r.Platform
	if err := store.SetRef(ctx, r.Name, target); err != nil {
		return err
	}
	dropped := false
	err := s.DB.Update(ctx, func(tx *bolt.Tx) error {
		if !r.Untagged {
			// A name given to an untagged image replaces its
			// untagged record (docker's <none> gets a name).
			var old Record
			err := metadata.GetJSON(tx, metadata.BucketImages, r.ID.String(), &old)
			switch {
			case err == nil && old.Untagged && !old.Intermediate:
				if err := metadata.Delete(tx, metadata.BucketImages, old.Name); err != nil {
					return err
				}
				dropped = true
			case err != nil && !errors.Is(err, metadata.ErrNotFound):
				return err
			}
		}
		return metadata.PutJSON(tx, metadata.BucketImages, r.Name, r)
	})
	if err != nil || !dropped {
		return err
	}
	return store.RemoveRefs(ctx, r.ID.String())
}

// Remove deletes the named images (names or id prefixes; an id removes
// every name of that image), then collects blobs and layer snapshots that
// no image uses any more. Collection is skipped, and left to the next
// Remove, while a pull is running.
func (s *Service) Remove(ctx context.Context, names ...string) error {
	store, err := s.Content(ctx)
	if err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	var removed []string
	err = s.DB.Update(ctx, func(tx *bolt.Tx) error {
		for _, n := range names {
			r, byName, err := s.lookup(tx, n)
			if err != nil {
				return err
			}
			victims := []string{r.Name}
			if !byName {
				// An id removes every name of the image.
				victims = victims[:0]
				err := metadata.ForEachJSON(tx, metadata.BucketImages, func(k string, o *Record) error {
					if o.ID == r.ID {
						victims = append(victims, k)
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
			for _, v := range victims {
				if err := metadata.Delete(tx, metadata.BucketImages, v); err != nil {
					return err
				}
				removed = append(removed, v)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove %s: %w", strings.Join(names, " "), err)
	}
	if err := store.RemoveRefs(ctx, removed...); err != nil {
		return fmt.Errorf("remove %s: %w", strings.Join(names, " "), err)
	}
	if err := s.collect(ctx, store, false); err != nil {
		return fmt.Errorf("remove %s: %w", strings.Join(names, " "), err)
	}
	return nil
}

// GC removes blobs not reachable from index.json and image layer
// snapshots no image uses, waiting for running pulls to finish first.
// Then a snapshotter that can (snapshot.Cleaner) removes what interrupted
// operations left under its root: directories of a Prepare or Remove that
// never finished, stale mounts. `system check` and `system prune` run it.
func (s *Service) GC(ctx context.Context) error {
	store, err := s.Content(ctx)
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	if err := s.collect(ctx, store, true); err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	if c, ok := s.Snapshotter.(snapshot.Cleaner); ok {
		if err := c.Cleanup(ctx); err != nil {
			return fmt.Errorf("gc: %w", err)
		}
	}
	return nil
}

// collect takes the store's exclusive lock (waiting for it or not) and
// removes unused layer snapshots and blobs.
func (s *Service) collect(ctx context.Context, store *content.Store, wait bool) error {
	unlock, err := store.LockExclusive(ctx, wait)
	if errors.Is(err, content.ErrBusy) {
		s.logger().DebugContext(ctx, "garbage collection deferred: a pull is running")
		return nil
	}
	if err != nil {
		return err
	}
	defer unlock()
	if err := s.collectSnapshots(ctx, nil); err != nil {
		return err
	}
	st, err := store.Collect(ctx)
	if err != nil {
		return err
	}
	s.logger().DebugContext(ctx, "content collected", "blobs", st.Blobs, "bytes", st.Bytes)
	return nil
}

// Labels stockade puts on the snapshots it makes.
const (
	// LabelLayer marks a committed image layer snapshot; its value is the
	// layer's diff id.
	LabelLayer = "stockade.image/layer"
)

// extractPrefix starts the keys of the active snapshots layers are
// unpacked into.
const extractPrefix = "extract-"

// TempViewPrefix starts the keys of read-only views made for a while
// (local.TempViewPrefix).
const TempViewPrefix = local.TempViewPrefix

// collectSnapshots removes image layer snapshots (label LabelLayer) that
// no record uses and leftover extraction snapshots. When only is non-nil,
// just those chain ids are considered. The caller must hold the store's
// exclusive lock, so no pull is using them. Snapshots with children (a
// container's root file system, say) stay.
func (s *Service) collectSnapshots(ctx context.Context, only []digest.Digest) error {
	if s.Snapshotter == nil {
		return nil
	}
	used := map[string]bool{}
	err := s.DB.View(ctx, func(tx *bolt.Tx) error {
		return metadata.ForEachJSON(tx, metadata.BucketImages, func(_ string, r *Record) error {
			if r.Snapshotter == "" || r.Snapshotter == s.SnapshotterName {
				for _, c := range r.ChainIDs {
					used[c.String()] = true
				}
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	var cands []snapshot.Info
	if only != nil {
		for _, c := range only {
			info, err := s.Snapshotter.Stat(ctx, c.String())
			if err == nil {
				cands = append(cands, info)
			}
		}
	} else {
		err = s.Snapshotter.Walk(ctx, func(_ context.Context, info snapshot.Info) error {
			cands = append(cands, info)
			return nil
		})
		if err != nil {
			return err
		}
	}
	// Remove children before parents: keep going while something goes.
	var gone []string
	for progress := true; progress; {
		progress = false
		rest := cands[:0]
		for _, info := range cands {
			stale := (strings.HasPrefix(info.Name, extractPrefix) && info.Kind == snapshot.KindActive) ||
				(strings.HasPrefix(info.Name, TempViewPrefix) && info.Kind == snapshot.KindView)
			layer := info.Kind == snapshot.KindCommitted && info.Labels[LabelLayer] != "" && !used[info.Name]
			if !stale && !layer {
				continue
			}
			err := s.Snapshotter.Remove(ctx, info.Name)
			switch {
			case err == nil, errors.Is(err, snapshot.ErrNotFound):
				progress = true
				if layer {
					gone = append(gone, info.Name)
				}
			case errors.Is(err, snapshot.ErrHasChildren):
				rest = append(rest, info)
			default:
				return fmt.Errorf("remove snapshot %s: %w", info.Name, err)
			}
		}
		cands = rest
	}
	return dropUserLookups(ctx, s.DB, gone)
}

// dropUserLookups deletes what the engine kept of user lookups in the
// roots whose top layers were the chain ids gone
// (metadata.BucketUserLookups): layers that come back bring the same
// files, but a key of a layer not there is clutter.
func dropUserLookups(ctx context.Context, db *metadata.DB, gone []string) error {
	if len(gone) == 0 {
		return nil
	}
	return db.Update(ctx, func(tx *bolt.Tx) error {
		for _, chain := range gone {
			if err := metadata.DeleteUserLookups(tx, chain); err != nil {
				return err
			}
		}
		return nil
	})
}

// ConfigBytes reads the config blob of the image img from the content
// store.
func (s *Service) ConfigBytes(ctx context.Context, img *Record) ([]byte, error) {
	return s.localStore().ConfigBytes(ctx, img)
}

// Config reads the config of the image img from the content store.
func (s *Service) Config(ctx context.Context, img *Record) (*ocispec.Image, error) {
	return s.localStore().Config(ctx, img)
}
