//go:build !lean

package image

import (
	"context"
	"errors"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stockade/stockade/image/content"
	"golang.org/x/sync/errgroup"
)

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

// registryFetch is the layerFetch of a pull: it downloads the layers from
// c, at most pullJobs at once, in order.
func (s *Service) registryFetch(c *registryClient, store *content.Store) layerFetch {
	return func(ctx context.Context, g *errgroup.Group, jobs []*blobJob, bars []progressBar) error {
		n := s.pullJobs
		if n <= 0 {
			n = 3
		}
		sem := make(chan struct{}, n)
		for i := range jobs {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				for _, j := range jobs[i:] {
					j.finish(ctx.Err())
				}
				for _, b := range bars[i:] {
					b.finish(ctx.Err())
				}
				return ctx.Err()
			}
			g.Go(func() error {
				defer func() { <-sem }()
				return layerError(jobs[i].desc.Digest, jobs[i].run(ctx, s, c, store, bars[i]))
			})
		}
		return nil
	}
}
