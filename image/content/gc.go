package content

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media types of the documents GC follows to find the blobs they reference.
const (
	mediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// maxManifestSize bounds the manifests and indexes GC reads.
const maxManifestSize = 4 << 20

// How old leftovers must be before Collect removes them: partial blobs are
// kept a day so that an interrupted pull can resume, temporary files of
// index.json updates a few minutes.
const (
	partialMaxAge = 24 * time.Hour
	tempMaxAge    = 10 * time.Minute
)

// GCStats reports what a collection removed.
type GCStats struct {
	// Blobs is the number of blobs deleted.
	Blobs int
	// Bytes is their total size.
	Bytes int64
}

// GC waits for the exclusive collection lock (see LockExclusive), then runs
// Collect.
func (s *Store) GC(ctx context.Context) (GCStats, error) {
	unlock, err := s.LockExclusive(ctx, true)
	if err != nil {
		return GCStats{}, fmt.Errorf("content gc: %w", err)
	}
	defer unlock()
	return s.Collect(ctx)
}

// Reachable returns the digests of all blobs reachable from index.json:
// the listed manifests and indexes, the manifests of those indexes, and
// every config and layer. Referenced blobs that are missing are ignored.
func (s *Store) Reachable(ctx context.Context) (map[digest.Digest]bool, error) {
	idx, err := s.Index(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[digest.Digest]bool{}
	var walk func(d ocispec.Descriptor, depth int) error
	walk = func(d ocispec.Descriptor, depth int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.Digest.Validate() != nil || seen[d.Digest] {
			return nil
		}
		seen[d.Digest] = true
		switch d.MediaType {
		case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex, mediaTypeDockerManifest, mediaTypeDockerList:
		default:
			return nil
		}
		if depth > 8 {
			return nil
		}
		data, err := s.ReadAll(ctx, d, maxManifestSize)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var doc struct {
			Config    *ocispec.Descriptor  `json:"config"`
			Layers    []ocispec.Descriptor `json:"layers"`
			Manifests []ocispec.Descriptor `json:"manifests"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			return fmt.Errorf("blob %s: %w", d.Digest, err)
		}
		children := append(doc.Layers, doc.Manifests...)
		if doc.Config != nil {
			children = append(children, *doc.Config)
		}
		for _, c := range children {
			if err := walk(c, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	for _, m := range idx.Manifests {
		if err := walk(m, 0); err != nil {
			return nil, err
		}
	}
	return seen, nil
}

// Collect deletes every blob that is not reachable from index.json, and
// leftovers of interrupted writes that are too old to be resumed. The
// caller must hold the exclusive lock (LockExclusive), so that no pull
// that has written blobs but not yet listed its image is running.
func (s *Store) Collect(ctx context.Context) (GCStats, error) {
	var st GCStats
	keep, err := s.Reachable(ctx)
	if err != nil {
		return st, fmt.Errorf("content gc: %w", err)
	}
	dir := s.blobDir(digest.SHA256)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return st, fmt.Errorf("content gc: %w", err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if d.Validate() == nil && keep[d] {
			continue
		}
		var size int64
		if fi, err := e.Info(); err == nil {
			size = fi.Size()
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return st, fmt.Errorf("content gc: %w", err)
		}
		st.Blobs++
		st.Bytes += size
	}
	removeOld(s.ingestDir(), func(name string) bool { return strings.HasSuffix(name, ".partial") }, partialMaxAge)
	removeOld(s.root, func(name string) bool { return strings.HasPrefix(name, "."+ocispec.ImageIndexFile+".tmp-") }, tempMaxAge)
	removeOld(s.ingestDir(), func(name string) bool { return strings.HasSuffix(name, ".tmp") }, tempMaxAge)
	return st, nil
}

// removeOld removes the files of dir whose name matches and whose
// modification time is older than age.
func removeOld(dir string, match func(string) bool, age time.Duration) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !match(e.Name()) {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > age {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
