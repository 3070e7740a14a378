//go:build !lean

package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stockade/stockade/image/content"
	"github.com/stockade/stockade/snapshot"
)

// encPrefix starts every OCI-crypt annotation of a layer descriptor.
const encPrefix = "org.opencontainers.image.enc."

// EncryptImage makes dst, a new image in the local store: a copy of the
// image src (a name or id) whose layers are encrypted by encrypt, all of
// them or those whose indexes layers lists (0-based, negative from the top, as
// PushOptions.EncryptLayers). The layers are encrypted blob to blob, from
// the stored plain blobs to ciphertext blobs in the content store; no
// plaintext is written. dst gets its own record and OCI manifest; its
// config, diff_ids and so its layer snapshots are src's. Layers that are
// encrypted already are an error.
func (s *Service) EncryptImage(ctx context.Context, src, dst string, encrypt EncryptFunc, layers []int) (*Record, error) {
	if encrypt == nil {
		return nil, opError("encrypt "+src, errors.New("no recipients to encrypt for"))
	}
	var sel []bool
	rec, err := s.rewriteImage(ctx, src, dst, func(n int) error {
		var err error
		sel, err = selectLayers(n, layers, true)
		return err
	}, func(ctx context.Context, store *content.Store, i int, l ocispec.Descriptor, _ digest.Digest) (ocispec.Descriptor, bool, error) {
		if !sel[i] {
			return l, false, nil
		}
		_, enc, err := LayerMediaType(l.MediaType)
		if err != nil {
			return l, false, err
		}
		if enc {
			return l, false, fmt.Errorf("encrypted already (%s): it cannot be encrypted again; leave it out (--layer), or decrypt the image first", l.MediaType)
		}
		plain := l
		plain.MediaType = ociMediaType(l.MediaType)
		f, err := store.Open(ctx, l.Digest)
		if err != nil {
			return l, false, err
		}
		defer f.Close()
		ct, done, err := encrypt(ctx, plain, f)
		if err != nil {
			return l, false, err
		}
		d, n, err := store.Ingest(ctx, ct)
		if err != nil {
			return l, false, fmt.Errorf("store the encrypted layer: %w", err)
		}
		nd, err := done()
		if err != nil {
			return l, false, err
		}
		if nd.Digest != d || nd.Size != n {
			return l, false, fmt.Errorf("the encrypted layer is %s (%d bytes), but its descriptor says %s (%d bytes)", d, n, nd.Digest, nd.Size)
		}
		return nd, true, nil
	})
	if err != nil {
		return nil, opError("encrypt "+src, err)
	}
	return rec, nil
}

// DecryptImage makes dst, a new image in the local store: a copy of the
// image src (a name or id) whose encrypted layers are decrypted by decrypt
// (nil means Service.Decrypt). Each layer is decrypted blob to blob, its
// ciphertext authenticated and its plaintext checked against the config's
// diff_id on the way; the plain (still compressed) blobs are stored in the
// content store, which is the purpose. dst gets its own record and OCI
// manifest; the diff_ids, and so the layer snapshots, are src's: nothing
// is unpacked again. An image without encrypted layers is an error.
func (s *Service) DecryptImage(ctx context.Context, src, dst string, decrypt DecryptFunc) (*Record, error) {
	if decrypt == nil {
		decrypt = s.Decrypt
	}
	found := false
	rec, err := s.rewriteImage(ctx, src, dst, nil, func(ctx context.Context, store *content.Store, _ int, l ocispec.Descriptor, diffID digest.Digest) (ocispec.Descriptor, bool, error) {
		_, enc, err := LayerMediaType(l.MediaType)
		if err != nil || !enc {
			return l, false, err
		}
		found = true
		if decrypt == nil {
			return l, false, fmt.Errorf("encrypted (%s); no keys given: %w", l.MediaType, ErrEncrypted)
		}
		mt, err := DecryptedMediaType(l.MediaType)
		if err != nil {
			return l, false, err
		}
		nd, err := decryptBlob(ctx, store, l, diffID, decrypt)
		if err != nil {
			return l, false, err
		}
		nd.MediaType = mt
		nd.URLs = l.URLs
		nd.Annotations = withoutEncAnnotations(l.Annotations)
		return nd, true, nil
	})
	if err == nil && !found {
		err = fmt.Errorf("image %s has no encrypted layer", src)
	}
	if err != nil {
		return nil, opError("decrypt "+src, err)
	}
	return rec, nil
}

// decryptBlob stores the plaintext of the encrypted layer l and returns
// its digest and size, checking its diff_id while it streams.
func decryptBlob(ctx context.Context, store *content.Store, l ocispec.Descriptor, diffID digest.Digest, decrypt DecryptFunc) (ocispec.Descriptor, error) {
	f, err := store.Open(ctx, l.Digest)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer f.Close()
	plain, err := decrypt(ctx, l, f)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	type verdict struct {
		diffID digest.Digest
		comp   Compression
		err    error
	}
	pr, pw := io.Pipe()
	ch := make(chan verdict, 1)
	go func() {
		var v verdict
		dc, comp, err := Decompress(pr)
		v.comp = comp
		if err == nil {
			dh := digest.SHA256.Digester()
			_, err = io.Copy(dh.Hash(), dc)
			dc.Close()
			v.diffID = dh.Digest()
		}
		v.err = err
		// Let the writer finish whatever happened here.
		io.Copy(io.Discard, pr)
		ch <- v
	}()
	d, n, err := store.Ingest(ctx, io.TeeReader(plain, pw))
	pw.CloseWithError(err)
	v := <-ch
	switch {
	case err != nil:
		return ocispec.Descriptor{}, err
	case v.err != nil:
		return ocispec.Descriptor{}, decompressError(v.comp, v.err)
	case v.diffID != diffID:
		return ocispec.Descriptor{}, fmt.Errorf("diff_id mismatch: the decrypted layer is %s, config says %s", v.diffID, diffID)
	}
	return ocispec.Descriptor{Digest: d, Size: n}, nil
}

// withoutEncAnnotations copies annotations without OCI-crypt's; nil when
// nothing is left.
func withoutEncAnnotations(a map[string]string) map[string]string {
	var out map[string]string
	for k, v := range a {
		if strings.HasPrefix(k, encPrefix) {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out
}

// layerRewrite turns layer i of an image (whose uncompressed digest is
// diffID) into another blob; it reports whether it changed it.
type layerRewrite func(ctx context.Context, store *content.Store, i int, l ocispec.Descriptor, diffID digest.Digest) (ocispec.Descriptor, bool, error)

// rewriteImage records dst as src with layers rewritten by fn, in a new
// OCI manifest (config unchanged). check, when set, is given the number of
// layers first. The layer snapshots are src's (same diff_ids); missing
// ones are unpacked from the new layers.
func (s *Service) rewriteImage(ctx context.Context, src, dst string, check func(n int) error, fn layerRewrite) (*Record, error) {
	if s.Snapshotter == nil || s.DB == nil {
		return nil, errors.New("image service: no snapshotter or metadata store")
	}
	full, err := NormalizeName(dst, s.DefaultRegistry)
	if err != nil {
		return nil, err
	}
	rec, err := s.Get(ctx, src)
	if err != nil {
		return nil, err
	}
	store, release, err := s.leasedContent(ctx)
	if err != nil {
		return nil, err
	}
	defer release() // also released early on failure: release is idempotent
	data, err := store.ReadAll(ctx, rec.Target, maxManifestSize)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", rec.Target.Digest, err)
	}
	cfgData, err := store.ReadAll(ctx, m.Config, maxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(cfgData, &cfg); err != nil {
		return nil, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	if len(m.Layers) != len(rec.DiffIDs) || len(cfg.RootFS.DiffIDs) != len(rec.DiffIDs) {
		return nil, fmt.Errorf("manifest %s: %d layers for %d diff_ids", rec.Target.Digest, len(m.Layers), len(rec.DiffIDs))
	}
	if check != nil {
		if err := check(len(m.Layers)); err != nil {
			return nil, err
		}
	}
	for i, l := range m.Layers {
		nd, _, err := fn(ctx, store, i, l, rec.DiffIDs[i])
		if err != nil {
			return nil, layerError(l.Digest, err)
		}
		m.Layers[i] = nd
	}
	m.MediaType = ocispec.MediaTypeImageManifest
	m.Config.MediaType = ocispec.MediaTypeImageConfig
	for i := range m.Layers {
		m.Layers[i].MediaType = ociMediaType(m.Layers[i].MediaType)
	}
	m.SchemaVersion = 2
	mdata, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	target := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mdata), Size: int64(len(mdata))}
	if err := store.Put(ctx, target, mdata); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", target.Digest, err)
	}

	img := &resolved{target: target, manifest: m, config: cfg, chainIDs: rec.ChainIDs}
	var created []digest.Digest
	for _, c := range rec.ChainIDs {
		if _, err := s.Snapshotter.Stat(ctx, c.String()); errors.Is(err, snapshot.ErrNotFound) {
			created, err = s.unpackImage(ctx, store, img, nil, storedBlobs)
			if err != nil {
				release()
				s.dropLayers(ctx, store, created)
				return nil, err
			}
			break
		} else if err != nil {
			return nil, err
		}
	}

	nr := *rec
	nr.Name = full
	nr.Target = target
	nr.Index = nil
	nr.Layers = m.Layers
	nr.Snapshotter = s.SnapshotterName
	nr.Size = target.Size + m.Config.Size
	for _, l := range m.Layers {
		nr.Size += l.Size
	}
	nr.Encrypted, nr.EncryptionSchemes = encryptionInfo(m.Layers)
	nr.Pulled = time.Now().UTC()
	if err := s.record(ctx, store, &nr); err != nil {
		if len(created) > 0 {
			release()
			s.dropLayers(ctx, store, created)
		}
		return nil, err
	}
	return &nr, nil
}

// prefetchReader reads its source in a goroutine of its own, a few
// buffers ahead of its reader: decryption (AES-CTR, the HMAC) then runs
// on another core than decompression and unpacking, which read from it.
// The source's error is returned once the bytes before it are read.
type prefetchReader struct {
	ch   chan prefetchChunk
	free chan []byte
	done chan struct{}
	wg   sync.WaitGroup
	cur  []byte
	buf  []byte // the buffer cur is a part of
	err  error
}

type prefetchChunk struct {
	b   []byte
	err error
}

const (
	prefetchSize  = 256 << 10
	prefetchDepth = 4
)

func newPrefetchReader(r io.Reader) *prefetchReader {
	p := &prefetchReader{
		ch:   make(chan prefetchChunk, prefetchDepth),
		free: make(chan []byte, prefetchDepth+2),
		done: make(chan struct{}),
	}
	p.wg.Add(1)
	go p.fill(r)
	return p
}

func (p *prefetchReader) fill(r io.Reader) {
	defer p.wg.Done()
	defer close(p.ch)
	for {
		var b []byte
		select {
		case b = <-p.free:
		default:
			b = make([]byte, prefetchSize)
		}
		n, err := io.ReadAtLeast(r, b, len(b))
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		select {
		case p.ch <- prefetchChunk{b: b[:n], err: err}:
		case <-p.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// Read implements io.Reader.
func (p *prefetchReader) Read(b []byte) (int, error) {
	for len(p.cur) == 0 {
		if p.err != nil {
			return 0, p.err
		}
		if p.buf != nil {
			select {
			case p.free <- p.buf[:cap(p.buf)]:
			default:
			}
			p.buf = nil
		}
		c, ok := <-p.ch
		if !ok {
			p.err = io.ErrUnexpectedEOF
			return 0, p.err
		}
		p.buf, p.cur, p.err = c.b, c.b, c.err
		if len(b) == 0 {
			return 0, nil
		}
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

// Close stops the goroutine and waits for it: its source must be at its
// end, failed, or about to fail (its context cancelled).
func (p *prefetchReader) Close() {
	close(p.done)
	p.wg.Wait()
}
