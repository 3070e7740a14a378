// Package content is stockade's blob store. On disk it IS an OCI image
// layout (oci-layout, index.json, blobs/sha256/...), so other tools such as
// `skopeo copy oci:<dataroot>/content:<name> ...` can read what stockade
// pulled. Next to the layout it keeps two private directories: ingest/,
// where blobs are written (and resumed) before they are verified and moved
// into blobs/, and locks/, which holds the flock(2) files that serialise
// writers, index.json updates and garbage collection across processes.
//
// Every blob is written through a Writer that verifies size and digest
// while streaming; a blob appears under blobs/ only once it is complete,
// verified and synced, so readers never see partial content.
package content

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Errors wrapped by the store so callers can test them with errors.Is.
var (
	// ErrNotFound means the blob is not in the store.
	ErrNotFound = errors.New("blob not found")
	// ErrExists means the blob is already in the store (returned by Writer).
	ErrExists = errors.New("blob already exists")
	// ErrDigestMismatch means the bytes do not hash to the expected digest.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrSizeMismatch means the bytes are more or fewer than expected.
	ErrSizeMismatch = errors.New("size mismatch")
	// ErrTooLarge means a blob read into memory is larger than allowed.
	ErrTooLarge = errors.New("blob too large")
)

// Store is a content store rooted at an OCI image layout directory. It is
// safe for concurrent use by goroutines and by processes sharing the root.
type Store struct {
	root string
}

// Open creates (if needed) and opens the content store at root.
func Open(ctx context.Context, root string) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &Store{root: root}
	for _, d := range []string{s.blobDir(digest.SHA256), s.ingestDir(), filepath.Join(root, "locks")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("content store %s: %w", root, err)
		}
	}
	layout := filepath.Join(root, ocispec.ImageLayoutFile)
	if _, err := os.Stat(layout); errors.Is(err, os.ErrNotExist) {
		data := []byte(`{"imageLayoutVersion":"` + ocispec.ImageLayoutVersion + `"}`)
		if err := writeFileAtomic(layout, data); err != nil {
			return nil, fmt.Errorf("content store %s: %w", root, err)
		}
	}
	if _, err := os.Stat(s.indexPath()); errors.Is(err, os.ErrNotExist) {
		if err := s.UpdateIndex(ctx, func(*ocispec.Index) error { return nil }); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Root returns the store's directory (the OCI layout).
func (s *Store) Root() string { return s.root }

func (s *Store) blobDir(alg digest.Algorithm) string {
	return filepath.Join(s.root, ocispec.ImageBlobsDir, string(alg))
}
func (s *Store) ingestDir() string           { return filepath.Join(s.root, "ingest") }
func (s *Store) indexPath() string           { return filepath.Join(s.root, ocispec.ImageIndexFile) }
func (s *Store) lockPath(name string) string { return filepath.Join(s.root, "locks", name+".lock") }

// BlobPath returns the path of the blob with digest d, which need not
// exist. It fails for digests that are malformed or not sha256.
func (s *Store) BlobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("blob %q: %w", d, err)
	}
	if d.Algorithm() != digest.SHA256 {
		return "", fmt.Errorf("blob %s: unsupported digest algorithm %s", d, d.Algorithm())
	}
	return filepath.Join(s.blobDir(d.Algorithm()), d.Encoded()), nil
}

// Info returns the size of blob d, or an error wrapping ErrNotFound.
func (s *Store) Info(ctx context.Context, d digest.Digest) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	p, err := s.BlobPath(d)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("blob %s: %w", d, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("blob %s: %w", d, err)
	}
	return fi.Size(), nil
}

// Has reports whether the complete blob described by desc is in the store.
func (s *Store) Has(ctx context.Context, desc ocispec.Descriptor) bool {
	size, err := s.Info(ctx, desc.Digest)
	return err == nil && size == desc.Size
}

// Open opens blob d for reading, or fails with an error wrapping ErrNotFound.
func (s *Store) Open(ctx context.Context, d digest.Digest) (*os.File, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := s.BlobPath(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", d, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	return f, nil
}

// ReadAll reads blob desc into memory, refusing blobs larger than limit
// bytes, and checks its size and digest again.
func (s *Store) ReadAll(ctx context.Context, desc ocispec.Descriptor, limit int64) ([]byte, error) {
	if desc.Size > limit {
		return nil, fmt.Errorf("blob %s: %d bytes: %w (limit %d)", desc.Digest, desc.Size, ErrTooLarge, limit)
	}
	f, err := s.Open(ctx, desc.Digest)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	if int64(len(data)) != desc.Size {
		return nil, fmt.Errorf("blob %s: %w: got %d bytes, want %d", desc.Digest, ErrSizeMismatch, len(data), desc.Size)
	}
	if got := digest.SHA256.FromBytes(data); got != desc.Digest {
		return nil, fmt.Errorf("blob %s: %w: got %s", desc.Digest, ErrDigestMismatch, got)
	}
	return data, nil
}

// Put stores data as blob desc, verifying it. A blob that is already
// present is not an error.
func (s *Store) Put(ctx context.Context, desc ocispec.Descriptor, data []byte) error {
	w, err := s.Writer(ctx, desc)
	if errors.Is(err, ErrExists) {
		return nil
	}
	if err != nil {
		return err
	}
	if w.Offset() != 0 {
		if err := w.Reset(); err != nil {
			w.Discard()
			return err
		}
	}
	if _, err := w.Write(data); err != nil {
		w.Discard()
		return err
	}
	return w.Commit(ctx)
}

// Delete removes blob d; a missing blob is not an error. Callers must hold
// the exclusive lock or otherwise know that the blob is unreferenced.
func (s *Store) Delete(ctx context.Context, d digest.Digest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := s.BlobPath(d)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete blob %s: %w", d, err)
	}
	return nil
}

// writeFileAtomic writes data to a temporary file next to path, syncs it
// and renames it over path, then syncs the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
