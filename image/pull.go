package image

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/stockade/stockade/image/archive"
	"github.com/stockade/stockade/image/content"
	"github.com/stockade/stockade/snapshot"
)

// PullOptions tune Pull.
type PullOptions struct {
	// Platform is "os/arch[/variant]"; empty means the host's.
	Platform string
	// PlainHTTP allows plain HTTP to a registry that is not loopback.
	PlainHTTP bool
	// Decrypt decrypts encrypted layers; nil means Service.Decrypt.
	Decrypt DecryptFunc
}

// Size limits for documents read into memory.
const maxConfigSize = 32 << 20

// applyTar applies an uncompressed layer tar to a directory. It is a
// variable so that tests can run before the real applier exists.
var applyTar = archive.Apply

// Pull fetches the image ref for the chosen platform, stores its blobs,
// unpacks its layers into committed snapshots and records it. Layers are
// downloaded in parallel and applied in order while they download. On
// failure nothing is recorded, no active snapshot and no temporary file
// stays (except the resumable part of a download cut by a network fault),
// and the error names the image, the layer and the reason.
func (s *Service) Pull(ctx context.Context, ref string, opts PullOptions) (*Record, error) {
	display := ref
	if n, err := NormalizeName(ref, s.DefaultRegistry); err == nil {
		display = n
	}
	rec, err := s.pull(ctx, ref, opts)
	if err != nil {
		return nil, opError("pull "+display, err)
	}
	return rec, nil
}

// resolved is an image whose manifest and config have been fetched and
// checked.
type resolved struct {
	index    *ocispec.Descriptor
	target   ocispec.Descriptor
	manifest ocispec.Manifest
	config   ocispec.Image
	chainIDs []digest.Digest
}

func (s *Service) pull(ctx context.Context, ref string, opts PullOptions) (*Record, error) {
	r, allowPlain, err := parseRef(ref, s.DefaultRegistry, opts.PlainHTTP, s.InsecureRegistries)
	if err != nil {
		return nil, err
	}
	want, err := ParsePlatform(opts.Platform)
	if err != nil {
		return nil, err
	}
	if s.Snapshotter == nil || s.DB == nil {
		return nil, errors.New("image service: no snapshotter or metadata store")
	}
	store, err := s.Content(ctx)
	if err != nil {
		return nil, err
	}
	client, err := s.newRegistryClient(ctx, r.Context(), allowPlain, transport.PullScope)
	if err != nil {
		return nil, err
	}
	release, err := store.Lease(ctx)
	if err != nil {
		return nil, err
	}
	leased := true
	defer func() {
		if leased {
			release()
		}
	}()

	img, err := s.resolve(ctx, client, store, r, want, opts.Platform != "")
	if err != nil {
		return nil, err
	}
	decrypt := opts.Decrypt
	if decrypt == nil {
		decrypt = s.Decrypt
	}
	if err := checkLayers(img.manifest.Layers, decrypt); err != nil {
		return nil, err
	}

	created, err := s.fetchAndUnpack(ctx, client, store, img, decrypt)
	if err == nil {
		rec := s.newRecord(r.Name(), img)
		if err = s.record(ctx, store, rec); err == nil {
			return rec, nil
		}
	}
	release()
	leased = false
	s.dropLayers(ctx, store, created)
	// A pull that failed for what the registry sent (a wrong key, bad
	// content), not for a network fault or a cancel, leaves no ingest
	// files: those of layers it had started are dropped unless a writer
	// still holds them.
	if ctx.Err() == nil && !retryableError(err) {
		for _, l := range img.manifest.Layers {
			if derr := store.DiscardPartial(l.Digest); derr != nil {
				s.logger().WarnContext(ctx, "discard partial download", "layer", l.Digest, "error", derr)
			}
		}
	}
	return nil, err
}

// checkLayers fails, before anything is downloaded, for layers of unknown
// media types and for encrypted layers when there is no way to decrypt.
func checkLayers(layers []ocispec.Descriptor, decrypt DecryptFunc) error {
	for _, l := range layers {
		if _, enc, err := LayerMediaType(l.MediaType); err != nil {
			return layerError(l.Digest, err)
		} else if enc && decrypt == nil {
			return fmt.Errorf("layer %s is encrypted (%s); no keys given: %w", l.Digest, l.MediaType, ErrEncrypted)
		}
	}
	return nil
}

// dropLayers removes the layer snapshots a failed pull or import
// committed, if no image uses them and no other pull runs (which could be
// building on them). The caller must have released its lease.
func (s *Service) dropLayers(ctx context.Context, store *content.Store, created []digest.Digest) {
	if len(created) == 0 {
		return
	}
	cctx := context.WithoutCancel(ctx)
	unlock, err := store.LockExclusive(cctx, false)
	if err != nil {
		return
	}
	defer unlock()
	if err := s.collectSnapshots(cctx, created); err != nil {
		s.logger().WarnContext(ctx, "cannot remove the layer snapshots of a failed pull", "error", err)
	}
}

// newRecord builds the record of a resolved, unpacked image.
func (s *Service) newRecord(fullName string, img *resolved) *Record {
	size := img.target.Size + img.manifest.Config.Size
	for _, l := range img.manifest.Layers {
		size += l.Size
	}
	diffIDs := img.config.RootFS.DiffIDs
	enc, schemes := encryptionInfo(img.manifest.Layers)
	rec := &Record{
		Name:   fullName,
		ID:     img.manifest.Config.Digest,
		Target: img.target,
		Index:  img.index,
		Platform: NormalizePlatform(ocispec.Platform{
			OS:           img.config.OS,
			Architecture: img.config.Architecture,
			Variant:      img.config.Variant,
			OSVersion:    img.config.OSVersion,
		}),
		Layers:            img.manifest.Layers,
		DiffIDs:           diffIDs,
		ChainIDs:          img.chainIDs,
		Snapshotter:       s.SnapshotterName,
		Size:              size,
		Pulled:            time.Now().UTC(),
		Encrypted:         enc,
		EncryptionSchemes: schemes,
	}
	rec.Target.Platform = nil
	rec.Target.Annotations = nil
	if img.config.Created != nil {
		rec.Created = img.config.Created.UTC()
	}
	return rec
}

// resolve fetches the manifest (choosing the platform from an index) and
// the config, stores both, and checks them.
func (s *Service) resolve(ctx context.Context, c *registryClient, store *content.Store, r name.Reference, want ocispec.Platform, explicit bool) (*resolved, error) {
	var wantDigest digest.Digest
	if d, ok := r.(name.Digest); ok {
		wantDigest = digest.Digest(d.DigestStr())
	}
	desc, data, err := c.manifest(ctx, r.Identifier(), wantDigest)
	if err != nil {
		return nil, err
	}
	return s.loadImage(ctx, store, registrySource{s: s, c: c, store: store}, desc, data, want, explicit)
}

// imageSource gets the documents of an image into the store: a registry
// for pulls, the store itself for imports.
type imageSource interface {
	// manifest returns the bytes of the manifest or index desc, verified.
	manifest(ctx context.Context, desc ocispec.Descriptor) ([]byte, error)
	// config puts the config blob desc into the store.
	config(ctx context.Context, desc ocispec.Descriptor) error
}

// registrySource fetches what the store does not have from a registry.
type registrySource struct {
	s     *Service
	c     *registryClient
	store *content.Store
}

func (r registrySource) manifest(ctx context.Context, desc ocispec.Descriptor) ([]byte, error) {
	if data, err := r.store.ReadAll(ctx, desc, maxManifestSize); err == nil {
		return data, nil
	}
	got, data, err := r.c.manifest(ctx, desc.Digest.String(), desc.Digest)
	if err != nil {
		return nil, err
	}
	if got.Size != desc.Size {
		return nil, fmt.Errorf("manifest %s: %w: got %d bytes, index says %d", desc.Digest, content.ErrSizeMismatch, got.Size, desc.Size)
	}
	return data, nil
}

func (r registrySource) config(ctx context.Context, desc ocispec.Descriptor) error {
	return r.s.fetchToStore(ctx, r.c, r.store, desc, noProgress{})
}

// loadImage walks from the manifest or index desc (whose bytes are data)
// to the manifest for want, checks and stores it, gets the config into the
// store and checks it against the manifest and the platform (a mismatch is
// an error if explicit, a warning otherwise).
func (s *Service) loadImage(ctx context.Context, store *content.Store, src imageSource, desc ocispec.Descriptor, data []byte, want ocispec.Platform, explicit bool) (*resolved, error) {
	img := &resolved{}
	for depth := 0; isIndex(desc.MediaType); depth++ {
		if depth >= 4 {
			return nil, errors.New("indexes nested too deeply")
		}
		var idx ocispec.Index
		if err := json.Unmarshal(data, &idx); err != nil {
			return nil, fmt.Errorf("index %s: %w", desc.Digest, err)
		}
		sel, err := selectManifest(idx, want)
		if err != nil {
			return nil, err
		}
		if img.index == nil {
			d := ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
			img.index = &d
		}
		if err := checkDescriptor(sel); err != nil {
			return nil, fmt.Errorf("index %s: %w", desc.Digest, err)
		}
		if sel.Size > maxManifestSize {
			return nil, fmt.Errorf("manifest %s: %d bytes is more than the %d allowed", sel.Digest, sel.Size, maxManifestSize)
		}
		desc = ocispec.Descriptor{MediaType: sel.MediaType, Digest: sel.Digest, Size: sel.Size}
		if data, err = src.manifest(ctx, desc); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
		}
	}
	if desc.MediaType == "" {
		mt, err := manifestMediaType(data, "")
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
		}
		desc.MediaType = mt
	}
	desc = ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
	if desc.MediaType != ocispec.MediaTypeImageManifest && desc.MediaType != MediaTypeDockerManifest {
		return nil, fmt.Errorf("manifest %s: unsupported media type %q", desc.Digest, desc.MediaType)
	}
	img.target = desc
	if err := json.Unmarshal(data, &img.manifest); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	m := &img.manifest
	if err := checkDescriptor(m.Config); err != nil {
		return nil, fmt.Errorf("manifest %s: config: %w", desc.Digest, err)
	}
	switch m.Config.MediaType {
	case ocispec.MediaTypeImageConfig, MediaTypeDockerConfig:
	default:
		return nil, fmt.Errorf("manifest %s: config media type %q is not an image config", desc.Digest, m.Config.MediaType)
	}
	for _, l := range m.Layers {
		if err := checkDescriptor(l); err != nil {
			return nil, layerError(l.Digest, err)
		}
	}
	if err := store.Put(ctx, desc, data); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}

	if m.Config.Size > maxConfigSize {
		return nil, fmt.Errorf("config %s: %d bytes is more than the %d allowed", m.Config.Digest, m.Config.Size, maxConfigSize)
	}
	if err := src.config(ctx, m.Config); err != nil {
		return nil, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	cfg, err := store.ReadAll(ctx, m.Config, maxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	if err := json.Unmarshal(cfg, &img.config); err != nil {
		return nil, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	if img.config.RootFS.Type != "layers" {
		return nil, fmt.Errorf("config %s: rootfs type %q is not \"layers\"", m.Config.Digest, img.config.RootFS.Type)
	}
	if n, k := len(img.config.RootFS.DiffIDs), len(m.Layers); n != k {
		return nil, fmt.Errorf("config %s: %d diff_ids for %d layers", m.Config.Digest, n, k)
	}
	for _, d := range img.config.RootFS.DiffIDs {
		if err := d.Validate(); err != nil || d.Algorithm() != digest.SHA256 {
			return nil, fmt.Errorf("config %s: bad diff_id %q", m.Config.Digest, d)
		}
	}
	have := ocispec.Platform{OS: img.config.OS, Architecture: img.config.Architecture, Variant: img.config.Variant}
	if platformRank(want, have) == 0 {
		if explicit {
			return nil, fmt.Errorf("image is for %s, not %s", FormatPlatform(NormalizePlatform(have)), FormatPlatform(want))
		}
		s.logger().WarnContext(ctx, "image platform differs from the host's", "image", FormatPlatform(NormalizePlatform(have)), "host", FormatPlatform(want))
	}
	img.chainIDs = ChainIDs(img.config.RootFS.DiffIDs)
	return img, nil
}

func isIndex(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == MediaTypeDockerManifestList
}

// checkDescriptor rejects descriptors that cannot be fetched safely.
func checkDescriptor(d ocispec.Descriptor) error {
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("bad digest %q: %w", d.Digest, err)
	}
	if d.Digest.Algorithm() != digest.SHA256 {
		return fmt.Errorf("digest %s: unsupported algorithm", d.Digest)
	}
	if d.Size < 0 {
		return fmt.Errorf("negative size %d", d.Size)
	}
	return nil
}

// layerError names the layer in err, without repeating the blob digest
// the content store already put at the front.
type layerErr struct {
	digest digest.Digest
	err    error
}

func layerError(d digest.Digest, err error) error {
	if err == nil {
		return nil
	}
	var le *layerErr
	if errors.As(err, &le) && le.digest == d {
		return err
	}
	return &layerErr{digest: d, err: err}
}

func (e *layerErr) Error() string {
	d := e.digest.String()
	msg := e.err.Error()
	// The content store and package crypt name the layer themselves.
	msg = strings.TrimPrefix(msg, "blob "+d+": ")
	msg = strings.TrimPrefix(msg, "layer "+d+": ")
	if rest, ok := strings.CutPrefix(msg, "encrypt layer "+d+": "); ok {
		msg = "encrypt: " + rest
	}
	return "layer " + d + ": " + msg
}

func (e *layerErr) Unwrap() error { return e.err }

// fetchToStore downloads blob desc into the store unless it is there. A
// download cut by a network fault leaves its partial file to be resumed;
// wrong content removes it.
func (s *Service) fetchToStore(ctx context.Context, c *registryClient, store *content.Store, desc ocispec.Descriptor, bar progressBar) error {
	w, err := store.Writer(ctx, desc)
	if errors.Is(err, content.ErrExists) {
		bar.finish(nil)
		return nil
	}
	if err != nil {
		bar.finish(err)
		return err
	}
	bar.set(w.Offset())
	err = s.download(ctx, c, desc, w, &sinkWriter{w: w, bar: bar})
	bar.finish(err)
	return err
}

// download fetches into w through sink and commits or abandons w.
func (s *Service) download(ctx context.Context, c *registryClient, desc ocispec.Descriptor, w *content.Writer, sink blobSink) error {
	if err := c.fetchBlob(ctx, desc, sink); err != nil {
		if keepPartial(ctx, err) {
			w.Close()
		} else {
			w.Discard()
		}
		return err
	}
	return w.Commit(ctx)
}

// keepPartial decides whether an interrupted download stays for a later
// pull to resume: yes after network faults, registry errors and a
// cancelled or timed-out command; no when the bytes were wrong, or when
// the pull was cancelled because something else in it failed (rerunning
// it fails the same way).
func keepPartial(ctx context.Context, err error) bool {
	if errors.Is(err, content.ErrSizeMismatch) {
		return false
	}
	if ctx.Err() != nil {
		cause := context.Cause(ctx)
		return errors.Is(cause, context.Canceled) || errors.Is(cause, context.DeadlineExceeded)
	}
	return true
}

// sinkWriter feeds a content writer and reports progress (and, through
// job, the bytes available to a concurrent reader).
type sinkWriter struct {
	w   *content.Writer
	bar progressBar
	job *blobJob
}

func (s *sinkWriter) Offset() int64 { return s.w.Offset() }

func (s *sinkWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if n > 0 {
		s.bar.add(int64(n))
		if s.job != nil {
			s.job.advance(s.w.Offset())
		}
	}
	return n, err
}

// blobJob is one layer download that a reader can follow while it runs.
type blobJob struct {
	desc    ocispec.Descriptor
	mu      sync.Mutex
	cond    *sync.Cond
	file    *os.File // a read descriptor of the ingest file, when we write it
	written int64
	done    bool
	err     error
}

func newBlobJob(desc ocispec.Descriptor) *blobJob {
	j := &blobJob{desc: desc}
	j.cond = sync.NewCond(&j.mu)
	return j
}

func (j *blobJob) start(f *os.File, written int64) {
	j.mu.Lock()
	j.file, j.written = f, written
	j.mu.Unlock()
	j.cond.Broadcast()
}

func (j *blobJob) advance(written int64) {
	j.mu.Lock()
	j.written = written
	j.mu.Unlock()
	j.cond.Broadcast()
}

func (j *blobJob) finish(err error) {
	j.mu.Lock()
	if !j.done {
		j.done, j.err = true, err
	}
	j.mu.Unlock()
	j.cond.Broadcast()
}

// failed returns the job's error if it has finished with one.
func (j *blobJob) failed() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.done {
		return j.err
	}
	return nil
}

func (j *blobJob) close() {
	j.mu.Lock()
	if j.file != nil {
		j.file.Close()
	}
	j.mu.Unlock()
}

// run downloads the job's blob into the store, publishing progress.
func (j *blobJob) run(ctx context.Context, s *Service, c *registryClient, store *content.Store, bar progressBar) (err error) {
	defer func() { j.finish(err); bar.finish(err) }()
	w, err := store.Writer(ctx, j.desc)
	if errors.Is(err, content.ErrExists) {
		return nil
	}
	if err != nil {
		return err
	}
	f, err := w.OpenReader()
	if err != nil {
		w.Close()
		return err
	}
	j.start(f, w.Offset())
	bar.set(w.Offset())
	return s.download(ctx, c, j.desc, w, &sinkWriter{w: w, bar: bar, job: j})
}

// jobReader reads a blob while its job downloads it: it blocks until
// bytes are written, and ends with the job's error if verification fails.
type jobReader struct {
	ctx   context.Context
	j     *blobJob
	store *content.Store
	blob  *os.File // the stored blob, when the job did not write it
	pos   int64
}

// Read implements io.Reader.
func (r *jobReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	j := r.j
	j.mu.Lock()
	for !j.done && (j.file == nil || r.pos >= j.written) {
		j.cond.Wait()
	}
	f, avail, err := j.file, j.written-r.pos, j.err
	j.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if f == nil {
		// Someone else stored the blob: read it from the store.
		if r.blob == nil {
			b, err := r.store.Open(r.ctx, j.desc.Digest)
			if err != nil {
				return 0, err
			}
			r.blob = b
		}
		f, avail = r.blob, j.desc.Size-r.pos
	}
	if avail <= 0 {
		return 0, io.EOF
	}
	n, err := f.ReadAt(p[:min(int64(len(p)), avail)], r.pos)
	r.pos += int64(n)
	if errors.Is(err, io.EOF) {
		if n > 0 {
			err = nil
		} else {
			err = io.ErrUnexpectedEOF
		}
	}
	return n, err
}

func (r *jobReader) Close() error {
	if r.blob != nil {
		return r.blob.Close()
	}
	return nil
}

// fetchAndUnpack downloads the layers (at most pullJobs at once, in
// order) and unpacks them in order as their bytes arrive; with c nil the
// blobs must be in the store already. It returns the chain ids it
// committed, also on failure.
func (s *Service) fetchAndUnpack(ctx context.Context, c *registryClient, store *content.Store, img *resolved, decrypt DecryptFunc) (created []digest.Digest, err error) {
	layers := img.manifest.Layers
	jobs := make([]*blobJob, len(layers))
	for i, l := range layers {
		jobs[i] = newBlobJob(l)
	}
	defer func() {
		for _, j := range jobs {
			j.close()
		}
	}()
	pb := newProgress(ctx, s.Progress)
	defer pb.wait()
	bars := make([]progressBar, len(layers))
	for i, l := range layers {
		bars[i] = pb.bar(shortDigest(l.Digest), l.Size)
	}

	n := s.pullJobs
	if n <= 0 {
		n = 3
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		sem := make(chan struct{}, n)
		for i := range jobs {
			if c == nil {
				// Import: the blobs are in the store already.
				jobs[i].finish(nil)
				bars[i].finish(nil)
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-gctx.Done():
				for _, j := range jobs[i:] {
					j.finish(gctx.Err())
				}
				for _, b := range bars[i:] {
					b.finish(gctx.Err())
				}
				return gctx.Err()
			}
			g.Go(func() error {
				defer func() { <-sem }()
				return layerError(layers[i].Digest, jobs[i].run(gctx, s, c, store, bars[i]))
			})
		}
		return nil
	})
	g.Go(func() error {
		readers := make([]*jobReader, len(layers))
		for i := range layers {
			readers[i] = &jobReader{ctx: gctx, j: jobs[i], store: store}
		}
		defer func() {
			for _, r := range readers {
				r.Close()
			}
		}()
		// Unwrap the key of every encrypted layer before unpacking
		// anything: a missing or wrong key fails the pull at once, and
		// holding the keys of an image is checked even for layers whose
		// snapshots exist already. Decryption itself happens as the
		// layers stream in.
		plain := make([]io.Reader, len(layers))
		for i, l := range layers {
			if _, enc, _ := LayerMediaType(l.MediaType); enc && decrypt != nil {
				p, err := decrypt(gctx, l, readers[i])
				if err != nil {
					if jerr := jobs[i].failed(); jerr != nil {
						err = jerr
					}
					return layerError(l.Digest, err)
				}
				plain[i] = p
			}
		}
		parent := ""
		for i, l := range layers {
			chain := img.chainIDs[i]
			made, err := s.unpackLayer(gctx, layerUnpack{
				desc:      l,
				diffID:    img.config.RootFS.DiffIDs[i],
				chainID:   chain.String(),
				parent:    parent,
				r:         readers[i],
				decrypted: plain[i],
			})
			if err != nil {
				if jerr := jobs[i].failed(); jerr != nil {
					err = jerr
				}
				return layerError(l.Digest, err)
			}
			if made {
				created = append(created, chain)
			}
			parent = chain.String()
		}
		return nil
	})
	err = g.Wait()
	return created, err
}

func shortDigest(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return e
}

// layerUnpack is one layer to unpack.
type layerUnpack struct {
	desc    ocispec.Descriptor
	diffID  digest.Digest
	chainID string
	parent  string
	// r streams the blob as stored (for an encrypted layer, the
	// ciphertext).
	r io.Reader
	// decrypted streams the plaintext of an encrypted layer, decrypted
	// from r as it is read (see DecryptFunc); nil for other layers.
	decrypted io.Reader
}

// unpackLayer applies a layer into a new snapshot committed as its chain
// id, unless that snapshot exists already. It reports whether it committed
// the snapshot. Every stream is read to its end before the commit, inner
// first: the decompressed tar (for the diff_id), the decrypted stream (so
// that the ciphertext's HMAC, checked at its end, is), then the blob (so
// that the download's verdict, its digest check, is known).
func (s *Service) unpackLayer(ctx context.Context, u layerUnpack) (made bool, err error) {
	sn := s.Snapshotter
	if info, err := sn.Stat(ctx, u.chainID); err == nil {
		if info.Kind != snapshot.KindCommitted {
			return false, fmt.Errorf("snapshot %s exists but is %s", u.chainID, info.Kind)
		}
		return false, nil
	} else if !errors.Is(err, snapshot.ErrNotFound) {
		return false, err
	}
	declared, encrypted, err := LayerMediaType(u.desc.MediaType)
	if err != nil {
		return false, err
	}
	key := extractPrefix + randomHex(6) + "-" + u.chainID
	if _, err := sn.Prepare(ctx, key, u.parent); err != nil {
		return false, fmt.Errorf("prepare snapshot: %w", err)
	}
	defer func() {
		if err != nil {
			if rerr := sn.Remove(context.WithoutCancel(ctx), key); rerr != nil && !errors.Is(rerr, snapshot.ErrNotFound) {
				s.logger().WarnContext(ctx, "cannot remove snapshot of a failed unpack", "key", key, "error", rerr)
			}
		}
	}()
	dir, wf, err := sn.ApplyDir(ctx, key)
	if err != nil {
		return false, err
	}
	src := u.r
	// fail reports err, unless the decrypted stream fails: its error
	// (the HMAC does not match, the download failed) is the cause of
	// whatever garbage the decompressor or the tar reader choked on,
	// and it is only known once the stream is read to its end.
	fail := func(err error) error { return err }
	if encrypted {
		if u.decrypted == nil {
			return false, fmt.Errorf("encrypted (%s); no keys given: %w", u.desc.MediaType, ErrEncrypted)
		}
		// Decrypt on a core of its own, ahead of the decompressor.
		pf := newPrefetchReader(u.decrypted)
		defer pf.Close()
		src = pf
		fail = func(err error) error {
			if _, derr := io.Copy(io.Discard, src); derr != nil {
				return derr
			}
			return err
		}
	}
	plain, comp, err := Decompress(src)
	if err != nil {
		return false, fail(err)
	}
	defer plain.Close()
	if comp != declared {
		s.logger().DebugContext(ctx, "layer compression differs from its media type", "layer", u.desc.Digest, "mediaType", u.desc.MediaType, "found", comp)
	}
	dh := digest.SHA256.Digester()
	tee := io.TeeReader(plain, dh.Hash())
	if _, err := applyTar(ctx, dir, tee, archive.Options{Whiteouts: wf}); err != nil {
		return false, fail(decompressError(comp, err))
	}
	// The tar may end before the stream does (padding): hash all of it.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return false, fail(decompressError(comp, err))
	}
	if encrypted {
		// The decompressor may stop before the decrypted stream ends:
		// read it to its end, where the HMAC is checked, before
		// anything else.
		if _, err := io.Copy(io.Discard, src); err != nil {
			return false, err
		}
	}
	if _, err := io.Copy(io.Discard, u.r); err != nil {
		return false, err
	}
	if got := dh.Digest(); got != u.diffID {
		return false, fmt.Errorf("diff_id mismatch: got %s, config says %s", got, u.diffID)
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	err = sn.Commit(ctx, u.chainID, key, snapshot.WithLabels(map[string]string{LabelLayer: u.diffID.String()}))
	if errors.Is(err, snapshot.ErrExists) {
		// Another pull committed the same layer first: use theirs.
		err = nil
		if rerr := sn.Remove(ctx, key); rerr != nil && !errors.Is(rerr, snapshot.ErrNotFound) {
			s.logger().WarnContext(ctx, "cannot remove a redundant snapshot", "key", key, "error", rerr)
		}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("commit snapshot: %w", err)
	}
	return true, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
