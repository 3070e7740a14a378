//go:build !lean

package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stockade/stockade/image/content"
)

// manifestAccept lists the manifest media types stockade understands.
var manifestAccept = strings.Join([]string{
	ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex,
	MediaTypeDockerManifest, MediaTypeDockerManifestList,
}, ", ")

// registryClient talks to one repository of one registry through an
// authenticated, retrying transport.
type registryClient struct {
	repo   name.Repository
	rt     http.RoundTripper
	client *http.Client
	policy retryPolicy
	log    *slog.Logger
}

// newRegistryClient resolves credentials for repo (authn.DefaultKeychain:
// ~/.docker/config.json, $REGISTRY_AUTH_FILE, ...), pings the registry and
// sets up token or basic auth for the given scope actions.
func (s *Service) newRegistryClient(ctx context.Context, repo name.Repository, allowPlain bool, actions ...string) (*registryClient, error) {
	reg := repo.Registry
	plainHosts := func(hostport string) bool {
		return plainHTTPAllowed(hostport, s.InsecureRegistries) || (allowPlain && strings.EqualFold(hostport, reg.RegistryStr()))
	}
	base := s.newHTTPTransport(allowPlain, plainHosts)
	auth, err := authn.Resolve(ctx, s.keychain(), repo)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", reg.RegistryStr(), err)
	}
	scopes := make([]string, 0, len(actions))
	for _, a := range actions {
		scopes = append(scopes, repo.Scope(a))
	}
	rt, err := transport.NewWithContext(ctx, reg, auth, base, scopes)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", reg.RegistryStr(), err)
	}
	return &registryClient{
		repo:   repo,
		rt:     rt,
		client: &http.Client{Transport: rt},
		policy: s.retryPolicy(),
		log:    s.logger(),
	}, nil
}

func (s *Service) keychain() authn.Keychain {
	if s.Keychain != nil {
		return s.Keychain
	}
	return authn.DefaultKeychain
}

func (c *registryClient) url(kind, ref string) string {
	u := url.URL{
		Scheme: c.repo.Registry.Scheme(),
		Host:   c.repo.RegistryStr(),
		Path:   fmt.Sprintf("/v2/%s/%s/%s", c.repo.RepositoryStr(), kind, ref),
	}
	return u.String()
}

// manifest fetches the manifest or index named by ref (a tag or digest).
// When want is set the bytes must hash to it. The returned descriptor has
// the manifest's digest, size and media type.
func (c *registryClient) manifest(ctx context.Context, ref string, want digest.Digest) (ocispec.Descriptor, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url("manifests", ref), nil)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	req.Header.Set("Accept", manifestAccept)
	resp, err := c.client.Do(req)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("fetch manifest %s: %w", ref, err)
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("fetch manifest %s: %w", ref, registryError(err))
	}
	if resp.ContentLength > maxManifestSize {
		return ocispec.Descriptor{}, nil, fmt.Errorf("fetch manifest %s: %d bytes is more than the %d allowed", ref, resp.ContentLength, maxManifestSize)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestSize+1))
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("fetch manifest %s: %w", ref, err)
	}
	if len(data) > maxManifestSize {
		return ocispec.Descriptor{}, nil, fmt.Errorf("fetch manifest %s: more than the %d bytes allowed", ref, maxManifestSize)
	}
	d := digest.SHA256.FromBytes(data)
	if want != "" && d != want {
		return ocispec.Descriptor{}, nil, fmt.Errorf("fetch manifest %s: %w: got %s", ref, content.ErrDigestMismatch, d)
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	mt, err := manifestMediaType(data, ct)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("fetch manifest %s: %w", ref, err)
	}
	return ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(data))}, data, nil
}

// blobSink receives the bytes of a blob download.
type blobSink interface {
	io.Writer
	// Offset is how many bytes the sink already has: the download resumes
	// there.
	Offset() int64
}

// fetchBlob downloads blob desc into w, resuming from w.Offset() with an
// HTTP Range request and again after every transient fault mid-body.
func (c *registryClient) fetchBlob(ctx context.Context, desc ocispec.Descriptor, w blobSink) error {
	buf := bufPool.Get().(*[]byte)
	defer bufPool.Put(buf)
	for attempt := 1; ; attempt++ {
		if w.Offset() == desc.Size {
			return nil
		}
		err := c.fetchOnce(ctx, desc, w, *buf)
		if err == nil {
			if w.Offset() != desc.Size {
				return fmt.Errorf("%w: registry sent %d bytes, descriptor says %d", content.ErrSizeMismatch, w.Offset(), desc.Size)
			}
			return nil
		}
		if !retryableError(err) || attempt >= c.policy.Attempts || ctx.Err() != nil {
			return err
		}
		wait := c.policy.delay(attempt)
		c.log.DebugContext(ctx, "blob download interrupted, resuming", "digest", desc.Digest, "offset", w.Offset(), "attempt", attempt, "reason", err, "wait", wait)
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// fetchOnce makes one GET for the rest of the blob and copies the body.
func (c *registryClient) fetchOnce(ctx context.Context, desc ocispec.Descriptor, w blobSink, buf []byte) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	off := w.Offset()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url("blobs", desc.Digest.String()), nil)
	if err != nil {
		return err
	}
	if off > 0 {
		// A closed range: some registries do not take "bytes=N-".
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, desc.Size-1))
	}
	resp, err := c.client.Do(req)
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errStalled) {
			return cause
		}
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, ok := contentRangeStart(resp.Header.Get("Content-Range"))
		if !ok || start != off {
			return fmt.Errorf("registry answered range %d- with %q", off, resp.Header.Get("Content-Range"))
		}
	case http.StatusOK:
		if resp.ContentLength >= 0 && resp.ContentLength != desc.Size {
			return fmt.Errorf("%w: registry sends %d bytes, descriptor says %d", content.ErrSizeMismatch, resp.ContentLength, desc.Size)
		}
		if off > 0 {
			// No range support: skip what we already have.
			if _, err := io.CopyN(io.Discard, resp.Body, off); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("fetch blob: %w", registryError(transport.CheckError(resp, http.StatusOK, http.StatusPartialContent)))
	}
	if resp.StatusCode == http.StatusPartialContent && resp.ContentLength >= 0 && resp.ContentLength != desc.Size-off {
		return fmt.Errorf("%w: registry sends %d bytes from offset %d, descriptor says %d in all", content.ErrSizeMismatch, resp.ContentLength, off, desc.Size)
	}
	// A watchdog cancels the request when the body stalls.
	stall := c.policy.StallTimeout
	timer := time.AfterFunc(stall, func() { cancel(errStalled) })
	defer timer.Stop()
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			timer.Reset(stall)
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			if cause := context.Cause(ctx); errors.Is(cause, errStalled) {
				return cause
			}
			return rerr
		}
	}
}

// contentRangeStart parses the first byte position of "bytes a-b/c".
func contentRangeStart(v string) (int64, bool) {
	v, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, false
	}
	a, _, ok := strings.Cut(v, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(a, 10, 64)
	return n, err == nil
}

// RegistryError is a registry's refusal, said in words a user can act on.
// It wraps the registry's own error (a *transport.Error).
type RegistryError struct {
	// Status is the HTTP status code.
	Status int
	// Msg is the short reason: "not found", "authentication required"...
	Msg string
	err error
}

func (e *RegistryError) Error() string { return e.Msg }
func (e *RegistryError) Unwrap() error { return e.err }

// registryError turns go-containerregistry's transport error, which prints
// the registry's error codes and detail maps ("MANIFEST_UNKNOWN: manifest
// unknown; map[Tag:nope]"), into a short reason. Other errors pass through.
func registryError(err error) error {
	var te *transport.Error
	if !errors.As(err, &te) {
		return err
	}
	msg := ""
	switch te.StatusCode {
	case http.StatusNotFound:
		msg = "not found in the registry"
	case http.StatusUnauthorized:
		msg = "authentication required (stockade login, or credentials in ~/.docker/config.json)"
	case http.StatusForbidden:
		msg = "access denied by the registry"
	case http.StatusTooManyRequests:
		msg = "the registry is rate-limiting requests"
	default:
		msg = fmt.Sprintf("the registry answered %d %s", te.StatusCode, strings.ToLower(http.StatusText(te.StatusCode)))
	}
	for _, d := range te.Errors {
		if d.Message != "" && te.StatusCode != http.StatusNotFound {
			msg += ": " + d.Message
			break
		}
	}
	return &RegistryError{Status: te.StatusCode, Msg: msg, err: err}
}
