//go:build !lean

package image

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stockade/stockade/image/content"
	"github.com/stockade/stockade/internal/ctxio"
)

// AnnotationImageName is containerd's annotation for an image's full name
// in an OCI layout; stockade writes it next to ref.name and prefers it on
// import.
const AnnotationImageName = "io.containerd.image.name"

// blobEntry matches the tar entries of an OCI layout that hold blobs.
var blobEntry = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^blobs/sha256/([a-f0-9]{64})$`) }) // on first use, not in every command's init

// Export writes the image name (a name or id) as an OCI image layout tar
// (as `skopeo copy ... oci-archive:F` would), with the image listed under
// its full name. The file appears only once it is complete.
func (s *Service) Export(ctx context.Context, name, tarFile string) error {
	if err := s.export(ctx, name, tarFile); err != nil {
		return opError("export "+name, err)
	}
	return nil
}

func (s *Service) export(ctx context.Context, name, tarFile string) error {
	rec, err := s.Get(ctx, name)
	if err != nil {
		return err
	}
	store, release, err := s.leasedContent(ctx)
	if err != nil {
		return err
	}
	defer release()
	manifest, err := store.ReadAll(ctx, rec.Target, maxManifestSize)
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return fmt.Errorf("manifest %s: %w", rec.Target.Digest, err)
	}
	target := rec.Target
	target.Platform = &rec.Platform
	target.Annotations = map[string]string{ocispec.AnnotationRefName: rec.Name, AnnotationImageName: rec.Name}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{target}}
	idx.SchemaVersion = 2
	index, err := json.Marshal(idx)
	if err != nil {
		return err
	}

	f, err := os.CreateTemp(filepath.Dir(tarFile), "."+filepath.Base(tarFile)+".tmp-*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	tw := tar.NewWriter(f)
	now := time.Now().UTC().Truncate(time.Second)
	small := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)), ModTime: now}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: now}); err != nil {
			return err
		}
	}
	if err := small(ocispec.ImageLayoutFile, []byte(`{"imageLayoutVersion":"`+ocispec.ImageLayoutVersion+`"}`)); err != nil {
		return err
	}
	if err := small("blobs/sha256/"+rec.Target.Digest.Encoded(), manifest); err != nil {
		return err
	}
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		if err := exportBlob(ctx, tw, store, d, now); err != nil {
			return err
		}
	}
	if err := small(ocispec.ImageIndexFile, index); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), tarFile); err != nil {
		return err
	}
	ok = true
	return nil
}

// exportBlob copies one blob of the store into the tar.
func exportBlob(ctx context.Context, tw *tar.Writer, store *content.Store, d ocispec.Descriptor, mtime time.Time) error {
	f, err := store.Open(ctx, d.Digest)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := tw.WriteHeader(&tar.Header{Name: "blobs/sha256/" + d.Digest.Encoded(), Typeflag: tar.TypeReg, Mode: 0o644, Size: d.Size, ModTime: mtime}); err != nil {
		return err
	}
	n, err := io.Copy(tw, ctxio.NewReader(ctx, io.LimitReader(f, d.Size)))
	if err != nil {
		return fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	if n != d.Size {
		return fmt.Errorf("blob %s: %w: %d bytes, want %d", d.Digest, content.ErrSizeMismatch, n, d.Size)
	}
	return nil
}

// Import reads an OCI image layout tar (as `skopeo copy ...
// oci-archive:F` writes it), stores its blobs (each verified against its
// digest), unpacks the images its index.json lists (choosing the host's
// platform from nested indexes) and records them. An image is named by its
// io.containerd.image.name or org.opencontainers.image.ref.name annotation
// (a bare reference is normalised with the default registry); an unnamed
// one gets "imported:<short id>".
func (s *Service) Import(ctx context.Context, tarFile string) ([]Record, error) {
	recs, err := s.importTar(ctx, tarFile)
	if err != nil {
		return nil, opError("import "+tarFile, err)
	}
	return recs, nil
}

func (s *Service) importTar(ctx context.Context, tarFile string) ([]Record, error) {
	if s.Snapshotter == nil || s.DB == nil {
		return nil, errors.New("image service: no snapshotter or metadata store")
	}
	store, err := s.Content(ctx)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(tarFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	release, err := store.Lease(ctx)
	if err != nil {
		return nil, err
	}
	defer release() // also released early on failure: release is idempotent

	var index []byte
	layout := false
	tr := tar.NewReader(f)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read tar: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		switch {
		case name == ocispec.ImageLayoutFile:
			var l ocispec.ImageLayout
			if err := json.NewDecoder(io.LimitReader(tr, 4096)).Decode(&l); err != nil {
				return nil, fmt.Errorf("oci-layout: %w", err)
			}
			layout = true
		case name == ocispec.ImageIndexFile:
			if h.Size > maxManifestSize {
				return nil, fmt.Errorf("index.json: %d bytes is more than the %d allowed", h.Size, maxManifestSize)
			}
			if index, err = io.ReadAll(io.LimitReader(tr, maxManifestSize)); err != nil {
				return nil, fmt.Errorf("index.json: %w", err)
			}
		default:
			m := blobEntry().FindStringSubmatch(name)
			if m == nil {
				continue
			}
			desc := ocispec.Descriptor{Digest: digest.NewDigestFromEncoded(digest.SHA256, m[1]), Size: h.Size}
			if err := importBlob(ctx, store, desc, tr); err != nil {
				return nil, err
			}
		}
	}
	if !layout || index == nil {
		return nil, errors.New("not an OCI image layout: oci-layout or index.json missing")
	}
	var idx ocispec.Index
	if err := json.Unmarshal(index, &idx); err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	if len(idx.Manifests) == 0 {
		return nil, errors.New("index.json lists no image")
	}
	want := HostPlatform()
	var recs []Record
	var created []digest.Digest
	for _, d := range idx.Manifests {
		rec, made, err := s.importImage(ctx, store, d, want)
		created = append(created, made...)
		if err != nil {
			release()
			s.dropLayers(ctx, store, created)
			return nil, err
		}
		recs = append(recs, *rec)
	}
	return recs, nil
}

// importBlob stores one blob from the tar, verifying its digest.
func importBlob(ctx context.Context, store *content.Store, desc ocispec.Descriptor, r io.Reader) error {
	w, err := store.Writer(ctx, desc)
	if errors.Is(err, content.ErrExists) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := w.Reset(); err != nil {
		w.Discard()
		return err
	}
	if _, err := io.Copy(w, ctxio.NewReader(ctx, r)); err != nil {
		w.Discard()
		return err
	}
	return w.Commit(ctx)
}

// storeSource reads an image's documents from the store (imports).
type storeSource struct{ store *content.Store }

func (s storeSource) manifest(ctx context.Context, desc ocispec.Descriptor) ([]byte, error) {
	return s.store.ReadAll(ctx, desc, maxManifestSize)
}

func (s storeSource) config(ctx context.Context, desc ocispec.Descriptor) error {
	if !s.store.Has(ctx, desc) {
		return fmt.Errorf("blob %s: %w", desc.Digest, content.ErrNotFound)
	}
	return nil
}

// importImage unpacks and records the image desc (a manifest, or an index
// to choose from) whose blobs are in the store.
func (s *Service) importImage(ctx context.Context, store *content.Store, desc ocispec.Descriptor, want ocispec.Platform) (*Record, []digest.Digest, error) {
	name := desc.Annotations[AnnotationImageName]
	if name == "" {
		name = desc.Annotations[ocispec.AnnotationRefName]
	}
	if err := checkDescriptor(desc); err != nil {
		return nil, nil, fmt.Errorf("index.json: %w", err)
	}
	data, err := store.ReadAll(ctx, desc, maxManifestSize)
	if err != nil {
		return nil, nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	img, err := s.loadImage(ctx, store, storeSource{store}, desc, data, want, false)
	if err != nil {
		return nil, nil, err
	}
	if err := checkLayers(img.manifest.Layers, s.Decrypt); err != nil {
		return nil, nil, err
	}
	full := ""
	if name != "" {
		full, _ = NormalizeName(name, s.DefaultRegistry)
	}
	if full == "" {
		if full, err = NormalizeName("imported:"+shortDigest(img.manifest.Config.Digest), s.DefaultRegistry); err != nil {
			return nil, nil, err
		}
	}
	created, err := s.unpackImage(ctx, store, img, s.Decrypt, storedBlobs)
	if err != nil {
		return nil, created, err
	}
	rec := s.newRecord(full, img)
	if err := s.record(ctx, store, rec); err != nil {
		return nil, created, err
	}
	return rec, created, nil
}
