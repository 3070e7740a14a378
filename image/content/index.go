package content

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stockade/stockade/internal/flock"
)

// maxIndexSize bounds index.json when it is read.
const maxIndexSize = 64 << 20

// Index returns the layout's index.json.
func (s *Store) Index(ctx context.Context) (ocispec.Index, error) {
	if err := ctx.Err(); err != nil {
		return ocispec.Index{}, err
	}
	return s.readIndex()
}

func (s *Store) readIndex() (ocispec.Index, error) {
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex}
	idx.SchemaVersion = 2
	f, err := os.Open(s.indexPath())
	if errors.Is(err, os.ErrNotExist) {
		return idx, nil
	}
	if err != nil {
		return idx, fmt.Errorf("read %s: %w", s.indexPath(), err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > maxIndexSize {
		return idx, fmt.Errorf("read %s: %d bytes: %w", s.indexPath(), fi.Size(), ErrTooLarge)
	}
	if err := json.NewDecoder(f).Decode(&idx); err != nil {
		return idx, fmt.Errorf("read %s: %w", s.indexPath(), err)
	}
	return idx, nil
}

// UpdateIndex changes index.json atomically: under an exclusive flock it
// reads the index, calls fn, and writes the result to a temporary file that
// is renamed over index.json. Nothing is written when fn fails.
func (s *Store) UpdateIndex(ctx context.Context, fn func(*ocispec.Index) error) error {
	unlock, err := lockFile(ctx, s.lockPath("index"), flock.Exclusive, true)
	if err != nil {
		return fmt.Errorf("update index: %w", err)
	}
	defer unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	if err := fn(&idx); err != nil {
		return err
	}
	if idx.Manifests == nil {
		idx.Manifests = []ocispec.Descriptor{}
	}
	idx.SchemaVersion = 2
	idx.MediaType = ocispec.MediaTypeImageIndex
	data, err := json.Marshal(&idx)
	if err != nil {
		return fmt.Errorf("update index: %w", err)
	}
	if err := writeFileAtomic(s.indexPath(), data); err != nil {
		return fmt.Errorf("update index: %w", err)
	}
	return nil
}

// SetRef lists desc in index.json under the name ref (annotation
// org.opencontainers.image.ref.name), replacing any entry of that name.
func (s *Store) SetRef(ctx context.Context, ref string, desc ocispec.Descriptor) error {
	return s.UpdateIndex(ctx, func(idx *ocispec.Index) error {
		d := desc
		d.Annotations = make(map[string]string, len(desc.Annotations)+1)
		for k, v := range desc.Annotations {
			d.Annotations[k] = v
		}
		d.Annotations[ocispec.AnnotationRefName] = ref
		out := idx.Manifests[:0]
		for _, m := range idx.Manifests {
			if m.Annotations[ocispec.AnnotationRefName] != ref {
				out = append(out, m)
			}
		}
		idx.Manifests = append(out, d)
		return nil
	})
}

// RemoveRefs removes the index.json entries named by refs. Names that are
// not listed are ignored.
func (s *Store) RemoveRefs(ctx context.Context, refs ...string) error {
	drop := make(map[string]bool, len(refs))
	for _, r := range refs {
		drop[r] = true
	}
	return s.UpdateIndex(ctx, func(idx *ocispec.Index) error {
		out := idx.Manifests[:0]
		for _, m := range idx.Manifests {
			if !drop[m.Annotations[ocispec.AnnotationRefName]] {
				out = append(out, m)
			}
		}
		idx.Manifests = out
		return nil
	})
}

// Resolve returns the index.json entry named ref, or an error wrapping
// ErrNotFound.
func (s *Store) Resolve(ctx context.Context, ref string) (ocispec.Descriptor, error) {
	idx, err := s.Index(ctx)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	for _, m := range idx.Manifests {
		if m.Annotations[ocispec.AnnotationRefName] == ref {
			return m, nil
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("ref %q: %w", ref, ErrNotFound)
}
