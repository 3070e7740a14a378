//go:build !lean

package image

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/stockade/stockade/image/content"
)

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

// layerFetch gets the blobs of an image's layers into the store while
// unpackImage reads them: it settles jobs[i] and bars[i] when layer i's
// blob is stored or has failed, running its downloads on g.
type layerFetch func(ctx context.Context, g *errgroup.Group, jobs []*blobJob, bars []progressBar) error

// storedBlobs is the layerFetch of an image whose blobs are in the store
// already (an import, a decrypted copy): there is nothing to download.
func storedBlobs(_ context.Context, _ *errgroup.Group, jobs []*blobJob, bars []progressBar) error {
	for i := range jobs {
		jobs[i].finish(nil)
		bars[i].finish(nil)
	}
	return nil
}
