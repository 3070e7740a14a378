package content

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stockade/stockade/internal/ctxio"
	"github.com/stockade/stockade/internal/flock"
)

// Writer streams one blob into the store. It holds an exclusive flock on
// the blob's ingest file from Writer until Commit, Discard or Close, so only
// one writer per blob exists at a time across all processes.
//
// Bytes are appended to <root>/ingest/<digest>.partial and hashed as they
// are written; Commit checks size and digest, syncs and renames the file
// into blobs/. A writer closed without Commit keeps its partial file, and
// the next Writer for the same blob resumes from its end.
type Writer struct {
	s    *Store
	desc ocispec.Descriptor
	path string
	f    *os.File
	h    hash.Hash
	n    int64
	done bool
}

// Writer returns a writer for the blob desc. If the blob is already in the
// store it returns an error wrapping ErrExists; if another writer (in this
// or another process) is writing it, Writer waits for that one to finish
// first, so it usually returns ErrExists then. The writer's Offset tells how
// many bytes a previous, interrupted writer left to resume from.
func (s *Store) Writer(ctx context.Context, desc ocispec.Descriptor) (*Writer, error) {
	blob, err := s.BlobPath(desc.Digest)
	if err != nil {
		return nil, err
	}
	if desc.Size < 0 {
		return nil, fmt.Errorf("blob %s: negative size %d", desc.Digest, desc.Size)
	}
	if err := s.checkPresent(blob, desc); err != nil {
		return nil, err
	}
	path := filepath.Join(s.ingestDir(), desc.Digest.String()+".partial")
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("blob %s: %w", desc.Digest, err)
		}
		if err := flock.Lock(ctx, f, flock.Exclusive); err != nil {
			return nil, fmt.Errorf("blob %s: %w", desc.Digest, err)
		}
		// The file may have been committed (renamed into blobs/) or
		// discarded while we waited for the lock: then the lock is on an
		// inode that is no longer the ingest file, and we start over.
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("blob %s: %w", desc.Digest, err)
		}
		if pi, err := os.Stat(path); err != nil || !os.SameFile(fi, pi) {
			f.Close()
			continue
		}
		if err := s.checkPresent(blob, desc); err != nil {
			os.Remove(path)
			f.Close()
			return nil, err
		}
		w := &Writer{s: s, desc: desc, path: path, f: f, h: sha256.New()}
		if err := w.resume(fi.Size()); err != nil {
			w.Discard()
			return nil, err
		}
		return w, nil
	}
}

// checkPresent returns ErrExists when the blob is present with the
// expected size, and ErrSizeMismatch when it is present with another size
// (blobs are verified before they are stored, so then desc is wrong).
func (s *Store) checkPresent(blob string, desc ocispec.Descriptor) error {
	fi, err := os.Stat(blob)
	if err != nil {
		return nil
	}
	if fi.Size() != desc.Size {
		return fmt.Errorf("blob %s: %w: it has %d bytes, descriptor says %d", desc.Digest, ErrSizeMismatch, fi.Size(), desc.Size)
	}
	return fmt.Errorf("blob %s: %w", desc.Digest, ErrExists)
}

// resume hashes the first size bytes already in the ingest file.
func (w *Writer) resume(size int64) error {
	if size > w.desc.Size {
		return w.Reset()
	}
	if size > 0 {
		if _, err := io.Copy(w.h, io.NewSectionReader(w.f, 0, size)); err != nil {
			return fmt.Errorf("blob %s: resume: %w", w.desc.Digest, err)
		}
	}
	if _, err := w.f.Seek(size, io.SeekStart); err != nil {
		return fmt.Errorf("blob %s: resume: %w", w.desc.Digest, err)
	}
	w.n = size
	return nil
}

// Descriptor returns the descriptor the writer verifies against.
func (w *Writer) Descriptor() ocispec.Descriptor { return w.desc }

// Offset returns the number of bytes written so far, including those
// resumed from an earlier writer.
func (w *Writer) Offset() int64 { return w.n }

// Write appends p. Writing past the descriptor's size fails with an error
// wrapping ErrSizeMismatch.
func (w *Writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("blob %s: write after close", w.desc.Digest)
	}
	if w.n+int64(len(p)) > w.desc.Size {
		return 0, fmt.Errorf("blob %s: %w: more than the descriptor's %d bytes", w.desc.Digest, ErrSizeMismatch, w.desc.Size)
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("blob %s: %w", w.desc.Digest, err)
	}
	return n, nil
}

// Reset truncates the ingest file so that writing starts from offset 0.
func (w *Writer) Reset() error {
	if err := w.f.Truncate(0); err != nil {
		return fmt.Errorf("blob %s: %w", w.desc.Digest, err)
	}
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("blob %s: %w", w.desc.Digest, err)
	}
	w.h.Reset()
	w.n = 0
	return nil
}

// OpenReader opens the ingest file for reading through a separate file
// descriptor, which stays valid after Commit has moved the file into
// blobs/. It lets a consumer read the blob while it is being written.
func (w *Writer) OpenReader() (*os.File, error) {
	if w.done {
		return nil, fmt.Errorf("blob %s: writer is closed", w.desc.Digest)
	}
	f, err := os.Open(w.path)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", w.desc.Digest, err)
	}
	return f, nil
}

// Commit verifies size and digest, then syncs the blob and moves it into
// blobs/. On a mismatch the partial file is removed and the error wraps
// ErrSizeMismatch or ErrDigestMismatch. The writer is closed afterwards.
func (w *Writer) Commit(ctx context.Context) error {
	if w.done {
		return fmt.Errorf("blob %s: commit after close", w.desc.Digest)
	}
	if err := ctx.Err(); err != nil {
		w.Close()
		return err
	}
	if w.n != w.desc.Size {
		w.Discard()
		return fmt.Errorf("blob %s: %w: got %d bytes, want %d", w.desc.Digest, ErrSizeMismatch, w.n, w.desc.Size)
	}
	if got := digest.NewDigest(digest.SHA256, w.h); got != w.desc.Digest {
		w.Discard()
		return fmt.Errorf("blob %s: %w: got %s", w.desc.Digest, ErrDigestMismatch, got)
	}
	if err := w.f.Sync(); err != nil {
		w.Close()
		return fmt.Errorf("blob %s: %w", w.desc.Digest, err)
	}
	blob, _ := w.s.BlobPath(w.desc.Digest)
	if err := os.Chmod(w.path, 0o644); err != nil {
		w.Close()
		return fmt.Errorf("blob %s: %w", w.desc.Digest, err)
	}
	if err := os.Rename(w.path, blob); err != nil {
		w.Close()
		return fmt.Errorf("blob %s: %w", w.desc.Digest, err)
	}
	err := syncDir(filepath.Dir(blob))
	w.done = true
	w.f.Close()
	if err != nil {
		return fmt.Errorf("blob %s: %w", w.desc.Digest, err)
	}
	return nil
}

// Discard removes the partial file and closes the writer.
func (w *Writer) Discard() {
	if w.done {
		return
	}
	os.Remove(w.path)
	w.done = true
	w.f.Close()
}

// Close releases the writer without committing. The partial file stays for
// a later writer to resume, unless it is empty. Close after Commit or
// Discard does nothing.
func (w *Writer) Close() error {
	if w.done {
		return nil
	}
	if w.n == 0 {
		os.Remove(w.path)
	}
	w.done = true
	if err := w.f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("blob %s: %w", w.desc.Digest, err)
	}
	return nil
}

// Ingest stores what r streams as a new blob, whose digest (sha256) is
// computed as it is written, and returns its digest and size. It is for
// blobs made here (encrypted or decrypted layers, rewritten manifests)
// rather than fetched against a known descriptor. The bytes go to a
// temporary file in the ingest directory, which is synced and renamed into
// blobs/; a blob that is present already is kept. The caller should hold
// a lease (Lease) until the blob is referenced from index.json.
func (s *Store) Ingest(ctx context.Context, r io.Reader) (digest.Digest, int64, error) {
	f, err := os.CreateTemp(s.ingestDir(), "ingest-*.tmp")
	if err != nil {
		return "", 0, fmt.Errorf("ingest: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), ctxio.NewReader(ctx, r))
	if err != nil {
		return "", n, err
	}
	d := digest.NewDigest(digest.SHA256, h)
	if err := f.Sync(); err != nil {
		return "", n, fmt.Errorf("blob %s: %w", d, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return "", n, fmt.Errorf("blob %s: %w", d, err)
	}
	if err := f.Close(); err != nil {
		return "", n, fmt.Errorf("blob %s: %w", d, err)
	}
	blob, _ := s.BlobPath(d)
	if err := s.checkPresent(blob, ocispec.Descriptor{Digest: d, Size: n}); errors.Is(err, ErrExists) {
		os.Remove(tmp)
		ok = true
		return d, n, nil
	}
	if err := os.Rename(tmp, blob); err != nil {
		return "", n, fmt.Errorf("blob %s: %w", d, err)
	}
	ok = true
	if err := syncDir(filepath.Dir(blob)); err != nil {
		return "", n, fmt.Errorf("blob %s: %w", d, err)
	}
	return d, n, nil
}

// DiscardPartial removes the ingest file of blob d when no writer holds
// it: what a failed pull leaves of the layers it had started. A file some
// writer (in this or another process) holds is left alone.
func (s *Store) DiscardPartial(d digest.Digest) error {
	path := filepath.Join(s.ingestDir(), d.String()+".partial")
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("blob %s: %w", d, err)
	}
	defer f.Close()
	if ok, err := flock.TryLock(f, flock.Exclusive); !ok || err != nil {
		return nil // a writer holds it
	}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("blob %s: %w", d, err)
	}
	if pi, err := os.Stat(path); err == nil && os.SameFile(fi, pi) {
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("blob %s: %w", d, err)
		}
	}
	return nil
}
