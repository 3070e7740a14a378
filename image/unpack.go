//go:build !lean

package image

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/stockade/stockade/image/archive"
	"github.com/stockade/stockade/image/content"
	"github.com/stockade/stockade/snapshot"
)

// unpackImage unpacks the layers of img in order as fetch gets their
// bytes into the store (registryFetch for a pull, storedBlobs for an image
// whose blobs are there already). It returns the chain ids it committed,
// also on failure.
func (s *Service) unpackImage(ctx context.Context, store *content.Store, img *resolved, decrypt DecryptFunc, fetch layerFetch) (created []digest.Digest, err error) {
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

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return fetch(gctx, g, jobs, bars) })
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
	// fail reports err, unless the stream fails: its error (the
	// download's digest does not match, the HMAC does not, the download
	// failed) is the cause of whatever garbage the decompressor or the
	// tar reader choked on, and it is only known once the stream is read
	// to its end. Without this, which error a corrupt download reported
	// depended on how far the download had got.
	fail := func(err error) error {
		if _, derr := io.Copy(io.Discard, src); derr != nil {
			return derr
		}
		return err
	}
	if encrypted {
		if u.decrypted == nil {
			return false, fmt.Errorf("encrypted (%s); no keys given: %w", u.desc.MediaType, ErrEncrypted)
		}
		// Decrypt on a core of its own, ahead of the decompressor.
		pf := newPrefetchReader(u.decrypted)
		defer pf.Close()
		src = pf
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
	if _, err := archive.Apply(ctx, dir, tee, archive.Options{Whiteouts: wf}); err != nil {
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
