//go:build !lean

package image

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stockade/stockade/image/content"
	"github.com/stockade/stockade/internal/ctxio"
)

// Push uploads the image name (a name or id) to dest ("" means its own
// name), recompressing and encrypting the layers if asked. A recompressed
// or encrypted image is pushed with an OCI manifest. Layers are
// recompressed and encrypted into temporary files of the content store's
// ingest directory (ciphertext only, when encrypting), removed afterwards.
func (s *Service) Push(ctx context.Context, nameOrID, dest string, opts PushOptions) error {
	op := "push " + nameOrID
	if dest != "" && dest != nameOrID {
		op += " to " + dest
	}
	if err := s.push(ctx, nameOrID, dest, opts); err != nil {
		return opError(op, err)
	}
	return nil
}

func (s *Service) push(ctx context.Context, nameOrID, dest string, opts PushOptions) error {
	var want Compression
	switch opts.Compression {
	case "":
	case "gzip":
		want = Gzip
	case "zstd":
		want = Zstd
	default:
		return fmt.Errorf("unknown compression %q: want gzip or zstd", opts.Compression)
	}
	rec, err := s.Get(ctx, nameOrID)
	if err != nil {
		return err
	}
	if dest == "" {
		dest = rec.Name
	}
	ref, allowPlain, err := parseRef(dest, s.DefaultRegistry, opts.PlainHTTP, s.InsecureRegistries)
	if err != nil {
		return err
	}
	store, release, err := s.leasedContent(ctx)
	if err != nil {
		return err
	}
	defer release()

	img, cleanup, err := s.pushImage(ctx, store, rec, want, opts.Encrypt, opts.EncryptLayers)
	defer cleanup()
	if err != nil {
		return err
	}
	client, err := s.newRegistryClient(ctx, ref.Context(), allowPlain, transport.PushScope)
	if err != nil {
		return err
	}
	ropts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(client.rt),
		remote.WithJobs(3),
		remote.WithRetryPredicate(retryableError),
		remote.WithRetryBackoff(remote.Backoff{Duration: s.retryPolicy().Backoff, Factor: 2, Jitter: 0.2, Steps: s.retryPolicy().Attempts}),
	}
	pb := newProgress(ctx, s.Progress)
	if _, ok := pb.(noProgress); !ok {
		updates := make(chan v1.Update, 16)
		ropts = append(ropts, remote.WithProgress(updates))
		go func() {
			var bar progressBar
			var last int64
			var uerr error
			for u := range updates {
				if bar == nil {
					bar = pb.bar("push "+ref.Name(), u.Total)
				}
				bar.add(u.Complete - last)
				last = u.Complete
				if u.Error != nil {
					uerr = u.Error
				}
			}
			if bar != nil {
				bar.finish(uerr)
			}
		}()
		defer pb.wait()
	}
	if err := remote.Write(ref, img, ropts...); err != nil {
		return err
	}
	s.logger().DebugContext(ctx, "pushed", "image", rec.Name, "to", ref.Name())
	return nil
}

// pushImage assembles the v1.Image to push from the content store,
// recompressing and encrypting layers into temporary files when asked.
// cleanup removes those files and must be called even on error.
func (s *Service) pushImage(ctx context.Context, store *content.Store, rec *Record, want Compression, encrypt EncryptFunc, encLayers []int) (v1.Image, func(), error) {
	var temps []string
	cleanup := func() {
		for _, t := range temps {
			os.Remove(t)
		}
	}
	manifest, err := store.ReadAll(ctx, rec.Target, maxManifestSize)
	if err != nil {
		return nil, cleanup, fmt.Errorf("manifest: %w", err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, cleanup, fmt.Errorf("manifest %s: %w", rec.Target.Digest, err)
	}
	config, err := store.ReadAll(ctx, m.Config, maxConfigSize)
	if err != nil {
		return nil, cleanup, fmt.Errorf("config: %w", err)
	}
	if len(m.Layers) != len(rec.DiffIDs) {
		return nil, cleanup, fmt.Errorf("manifest %s: %d layers for %d diff_ids", rec.Target.Digest, len(m.Layers), len(rec.DiffIDs))
	}
	selected, err := selectLayers(len(m.Layers), encLayers, encrypt != nil)
	if err != nil {
		return nil, cleanup, err
	}
	pi := &storeImage{mediaType: rec.Target.MediaType, manifest: manifest, config: config, layers: map[digest.Digest]storeLayer{}}
	changed := false
	for i, l := range m.Layers {
		have, enc, err := LayerMediaType(l.MediaType)
		if err != nil {
			return nil, cleanup, layerError(l.Digest, err)
		}
		recompress := want != "" && have != want
		if !recompress && !selected[i] {
			pi.layers[l.Digest] = storeLayer{desc: l, open: func() (io.ReadCloser, error) { return store.Open(ctx, l.Digest) }}
			continue
		}
		switch {
		case enc && recompress:
			return nil, cleanup, layerError(l.Digest, errors.New("an encrypted layer cannot be recompressed"))
		case enc:
			return nil, cleanup, layerError(l.Digest, fmt.Errorf("encrypted already (%s): it cannot be encrypted again; leave it out (--layer), or decrypt the image first", l.MediaType))
		}
		desc := l
		desc.MediaType = ociMediaType(l.MediaType)
		open := func() (io.ReadCloser, error) { return store.Open(ctx, l.Digest) }
		plainTemp := ""
		if recompress {
			path, nd, err := s.recompress(ctx, store, l, rec.DiffIDs[i], want)
			if path != "" {
				temps = append(temps, path)
			}
			if err != nil {
				return nil, cleanup, layerError(l.Digest, err)
			}
			nd.Annotations = l.Annotations
			desc = nd
			open = func() (io.ReadCloser, error) { return os.Open(path) }
			plainTemp = path
		}
		if selected[i] {
			path, nd, err := encryptToFile(ctx, store, desc, open, encrypt)
			if path != "" {
				temps = append(temps, path)
			}
			if err != nil {
				return nil, cleanup, layerError(l.Digest, err)
			}
			if plainTemp != "" {
				os.Remove(plainTemp)
			}
			desc = nd
			open = func() (io.ReadCloser, error) { return os.Open(path) }
		}
		m.Layers[i] = desc
		pi.layers[desc.Digest] = storeLayer{desc: desc, open: open}
		changed = true
	}
	if changed {
		// Rewritten images are written as OCI images.
		m.MediaType = ocispec.MediaTypeImageManifest
		m.Config.MediaType = ocispec.MediaTypeImageConfig
		for i, l := range m.Layers {
			if mt := ociMediaType(l.MediaType); l.MediaType != mt {
				sl := pi.layers[l.Digest]
				sl.desc.MediaType = mt
				pi.layers[l.Digest] = sl
				m.Layers[i].MediaType = mt
			}
		}
		if pi.manifest, err = json.Marshal(m); err != nil {
			return nil, cleanup, err
		}
		pi.mediaType = ocispec.MediaTypeImageManifest
	}
	img, err := partial.CompressedToImage(pi)
	return img, cleanup, err
}

// selectLayers turns layer indexes (negative from the top) into a choice
// per layer; no indexes means every layer, when encrypting at all.
func selectLayers(n int, indexes []int, encrypt bool) ([]bool, error) {
	sel := make([]bool, n)
	if !encrypt {
		if len(indexes) > 0 {
			return nil, errors.New("layers to encrypt are chosen, but there are no recipients to encrypt for")
		}
		return sel, nil
	}
	if len(indexes) == 0 {
		for i := range sel {
			sel[i] = true
		}
		return sel, nil
	}
	for _, k := range indexes {
		i := k
		if i < 0 {
			i += n
		}
		if i < 0 || i >= n {
			if n == 1 {
				return nil, fmt.Errorf("there is no layer %d: the image has 1 layer (0, or -1)", k)
			}
			return nil, fmt.Errorf("there is no layer %d: the image has %d layers (0 to %d, or -%d to -1)", k, n, n-1, n)
		}
		sel[i] = true
	}
	return sel, nil
}

// encryptToFile encrypts the plain layer desc, read from open, into a
// temporary file of the store's ingest directory, and returns the file
// and the encrypted layer's descriptor.
func encryptToFile(ctx context.Context, store *content.Store, desc ocispec.Descriptor, open func() (io.ReadCloser, error), encrypt EncryptFunc) (string, ocispec.Descriptor, error) {
	src, err := open()
	if err != nil {
		return "", ocispec.Descriptor{}, err
	}
	defer src.Close()
	ct, done, err := encrypt(ctx, desc, ctxio.NewReader(ctx, src))
	if err != nil {
		return "", ocispec.Descriptor{}, err
	}
	f, err := os.CreateTemp(filepath.Join(store.Root(), "ingest"), "push-*.tmp")
	if err != nil {
		return "", ocispec.Descriptor{}, err
	}
	defer f.Close()
	if _, err := io.Copy(f, ct); err != nil {
		return f.Name(), ocispec.Descriptor{}, err
	}
	nd, err := done()
	if err != nil {
		return f.Name(), ocispec.Descriptor{}, err
	}
	return f.Name(), nd, f.Close()
}

// recompress writes layer l compressed with c into a temporary file in the
// store's ingest directory, checking its diff_id on the way, and returns
// the file and the new descriptor.
func (s *Service) recompress(ctx context.Context, store *content.Store, l ocispec.Descriptor, diffID digest.Digest, c Compression) (string, ocispec.Descriptor, error) {
	src, err := store.Open(ctx, l.Digest)
	if err != nil {
		return "", ocispec.Descriptor{}, err
	}
	defer src.Close()
	plain, found, err := Decompress(src)
	if err != nil {
		return "", ocispec.Descriptor{}, err
	}
	defer plain.Close()
	f, err := os.CreateTemp(filepath.Join(store.Root(), "ingest"), "push-*.tmp")
	if err != nil {
		return "", ocispec.Descriptor{}, err
	}
	defer f.Close()
	out := digest.SHA256.Digester()
	cw := &countingWriter{w: io.MultiWriter(f, out.Hash())}
	var zw io.WriteCloser
	switch c {
	case Gzip:
		zw = gzip.NewWriter(cw)
	case Zstd:
		if zw, err = zstd.NewWriter(cw, zstd.WithEncoderConcurrency(1)); err != nil {
			return f.Name(), ocispec.Descriptor{}, err
		}
	}
	in := digest.SHA256.Digester()
	if _, err := io.Copy(zw, io.TeeReader(ctxio.NewReader(ctx, plain), in.Hash())); err != nil {
		zw.Close()
		return f.Name(), ocispec.Descriptor{}, decompressError(found, err)
	}
	if err := zw.Close(); err != nil {
		return f.Name(), ocispec.Descriptor{}, err
	}
	if got := in.Digest(); got != diffID {
		return f.Name(), ocispec.Descriptor{}, fmt.Errorf("diff_id mismatch: got %s, config says %s", got, diffID)
	}
	return f.Name(), ocispec.Descriptor{MediaType: ociLayerMediaType[c], Digest: out.Digest(), Size: cw.n}, f.Close()
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// storeImage is an image whose blobs come from the content store (or
// recompressed temporary files), for go-containerregistry's remote.Write.
type storeImage struct {
	mediaType string
	manifest  []byte
	config    []byte
	layers    map[digest.Digest]storeLayer
}

func (i *storeImage) RawConfigFile() ([]byte, error) { return i.config, nil }

func (i *storeImage) MediaType() (types.MediaType, error) { return types.MediaType(i.mediaType), nil }

func (i *storeImage) RawManifest() ([]byte, error) { return i.manifest, nil }

func (i *storeImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	l, ok := i.layers[digest.Digest(h.String())]
	if !ok {
		return nil, fmt.Errorf("layer %s is not part of the image", h)
	}
	return l, nil
}

// storeLayer is one blob of a storeImage.
type storeLayer struct {
	desc ocispec.Descriptor
	open func() (io.ReadCloser, error)
}

func (l storeLayer) Digest() (v1.Hash, error) { return v1.NewHash(l.desc.Digest.String()) }

func (l storeLayer) Compressed() (io.ReadCloser, error) { return l.open() }

func (l storeLayer) Size() (int64, error) { return l.desc.Size, nil }

func (l storeLayer) MediaType() (types.MediaType, error) {
	return types.MediaType(l.desc.MediaType), nil
}
