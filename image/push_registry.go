//go:build !lean

package image

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
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
	store, err := s.Content(ctx)
	if err != nil {
		return err
	}
	release, err := store.Lease(ctx)
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
